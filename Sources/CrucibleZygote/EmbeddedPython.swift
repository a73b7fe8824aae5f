import CCellCompiler
import CPython
import Foundation

/// CPython, initialized once in the zygote with an isolated configuration: no
/// environment variables, no site-packages, no bytecode writes, no signal handlers.
///
/// Three steps, in this order in `main.swift`: `init` (as root, before the zygote gives up
/// root: Crucible's runtime and the standard library only), `preload` (after the privilege
/// drop and the namespaces: the user's modules), `freeze` (last, before the first fork).
struct EmbeddedPython {
    private let worker: UnsafeMutablePointer<PyObject>
    private let serve: UnsafeMutablePointer<PyObject>

    /// The interpreter's import path after start-up (Landlock makes it readable).
    let importPath: [String]
    let version: String

    /// Starts CPython and imports the runtime (and with it the standard library's preloads).
    /// `importPaths` (package environments, extra folders) join `sys.path` only after that,
    /// and behind the standard library, as site-packages do: nothing of theirs is imported
    /// while the zygote is root, and none of their modules can shadow the standard library's.
    init(runtimeDirectory: String, importPaths: [String] = []) throws {
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

        // The runtime imports everything workers may use, so no worker maps new code.
        guard let module = PyImport_ImportModule("crucible_sandbox.worker"),
            let serve = PyObject_GetAttrString(module, "serve")
        else {
            PyErr_Print()
            throw "cannot import crucible_sandbox.worker from \(runtimeDirectory)"
        }
        worker = module
        self.serve = serve
        for path in importPaths {
            guard let entry = PyUnicode_FromString(path) else { continue }
            PyList_Append(sysPath, entry)
            crucible_py_decref(entry)
        }
        importPath = (0..<PyList_Size(sysPath)).compactMap { index in
            guard let item = PyList_GetItem(sysPath, index), let utf8 = PyUnicode_AsUTF8(item) else { return nil }
            return String(cString: utf8)
        }
        version = String(cString: Py_GetVersion()).split(separator: " ").first.map(String.init) ?? "?"
    }

    /// Imports the user's preloads (`worker.preload`); nil, or why one cannot be imported.
    /// `temporaryDirectory`: TMPDIR while they import (`PreloadScratch`).
    func preload(_ modules: [String], temporaryDirectory: String?) -> String? {
        guard !modules.isEmpty else { return nil }
        guard let function = PyObject_GetAttrString(worker, "preload"), let names = PyList_New(0) else {
            PyErr_Print()
            return "the runtime has no preload function"
        }
        defer { crucible_py_decref(function); crucible_py_decref(names) }
        for module in modules {
            guard let name = PyUnicode_FromString(module) else { return "a module name is not valid UTF-8" }
            PyList_Append(names, name)
            crucible_py_decref(name)
        }
        let none = crucible_py_none()
        guard let arguments = PyTuple_New(2) else { return "out of memory" }
        defer { crucible_py_decref(arguments) }
        // PyTuple_SetItem steals a reference to each item.
        crucible_py_incref(names)
        PyTuple_SetItem(arguments, 0, names)
        if let folder = temporaryDirectory.flatMap({ PyUnicode_FromString($0) }) {
            PyTuple_SetItem(arguments, 1, folder)
        } else {
            crucible_py_incref(none)
            PyTuple_SetItem(arguments, 1, none)
        }
        guard let outcome = PyObject_CallObject(function, arguments) else {
            PyErr_Print()
            return "the preload function failed"
        }
        defer { crucible_py_decref(outcome) }
        guard outcome != none, let text = PyUnicode_AsUTF8(outcome) else {
            PyErr_Clear()
            return nil
        }
        return String(cString: text)
    }

    /// Nothing the zygote allocated should be written to in every child: not its reference
    /// counts (immortal, on 3.12 and later) and not by the collector (frozen).
    func freeze() throws {
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
