import CCellCompiler
import CPython
import Foundation

/// CPython, initialized once in the zygote with an isolated configuration: no
/// environment variables, no site-packages, no bytecode writes, no signal handlers.
struct EmbeddedPython {
    private let serve: UnsafeMutablePointer<PyObject>

    /// The interpreter's import path after start-up (Landlock makes it readable).
    let importPath: [String]
    let version: String

    init(runtimeDirectory: String, importPaths: [String] = [], preloadModules: [String] = []) throws {
        var config = PyConfig()
        PyConfig_InitIsolatedConfig(&config)
        defer { PyConfig_Clear(&config) }
        config.site_import = 0
        config.write_bytecode = 0
        config.install_signal_handlers = 0
        config.user_site_directory = 0
        config.buffered_stdio = 0
        // Before start-up, as built-in modules must be; the worker falls back to `ast` without it.
        _ = crucible_register_cell_compiler()
        let status = Py_InitializeFromConfig(&config)
        if PyStatus_Exception(status) != 0 {
            let message = status.err_msg.map { String(cString: $0) } ?? "unknown error"
            throw "CPython failed to start: \(message)"
        }
        guard let sysPath = PySys_GetObject("path"), let directory = PyUnicode_FromString(runtimeDirectory) else {
            throw "sys.path is missing"
        }
        PyList_Insert(sysPath, 0, directory)
        crucible_py_decref(directory)
        for (offset, path) in importPaths.enumerated() {
            guard let entry = PyUnicode_FromString(path) else { continue }
            PyList_Insert(sysPath, 1 + offset, entry)
            crucible_py_decref(entry)
        }

        // The runtime imports everything workers may use, so no worker maps new code.
        guard let module = PyImport_ImportModule("crucible_sandbox.worker"),
            let serve = PyObject_GetAttrString(module, "serve")
        else {
            PyErr_Print()
            throw "cannot import crucible_sandbox.worker from \(runtimeDirectory)"
        }
        self.serve = serve
        for name in preloadModules {
            guard let preloaded = PyImport_ImportModule(name) else {
                PyErr_Print()
                throw "cannot preload the module \(name) (import path: \(importPaths))"
            }
            crucible_py_decref(preloaded)
        }
        importPath = (0..<PyList_Size(sysPath)).compactMap { index in
            guard let item = PyList_GetItem(sysPath, index), let utf8 = PyUnicode_AsUTF8(item) else { return nil }
            return String(cString: utf8)
        }
        version = String(cString: Py_GetVersion()).split(separator: " ").first.map(String.init) ?? "?"
        // Nothing the zygote allocated should be written to in every child: not its reference
        // counts (immortal, on 3.12 and later) and not by the collector (frozen).
        PyRun_SimpleString("import gc; gc.collect()")
        if crucible_immortalize_heap() < 0 { throw "could not make the zygote's objects immortal (out of memory)" }
        PyRun_SimpleString("import gc; gc.freeze()")
    }

    /// Runs the worker loop on the channel descriptor; returns when the worker is done.
    func serveWorker(channel: Int32) {
        guard let argument = PyLong_FromLong(Int(channel)), let arguments = PyTuple_New(1) else { return }
        PyTuple_SetItem(arguments, 0, argument)  // steals the reference
        if PyObject_CallObject(serve, arguments) == nil { PyErr_Print() }
    }
}
