import CSandboxKernel
import Foundation

/// The first step of a zygote for an interpreter that lives in an image (`--image ROOT
/// --image-zygote PATH`): this process, built for the host, makes the image its root with
/// the paths workers need mounted inside at their own places (`crucible_enter_image`),
/// then execs the zygote built for that interpreter, which carries on as any zygote does.
enum ImageRoot {
    /// Where the interpreter's zygote appears inside the image. Below /usr so that CPython,
    /// looking upwards from its executable, finds its prefix at /usr.
    static let zygoteInside = "/usr/libexec/crucible/crucible-zygote"

    static func enterAndExec(image: String, zygote: String, hostPaths: [String], writableForTesting: String?, innerArguments: [String]) -> Never {
        guard geteuid() == 0 else {
            fatal("an interpreter image needs a zygote started as root (mount namespace, overlay, pivot_root); run crucible as root, or use the system Python")
        }
        // A path inside another comes along with it.
        let paths = Set(hostPaths.filter { !$0.isEmpty }.map(PathExposure.normalize))
        let outermost = paths.filter { path in !paths.contains { path != $0 && path.hasPrefix($0 + "/") } }.sorted()
        var error = [CChar](repeating: 0, count: 512)
        let strings = (outermost + [writableForTesting].compactMap { $0 }).map { strdup($0) }
        defer { strings.forEach { free($0) } }
        let pointers = strings.map { UnsafePointer($0) }
        guard crucible_enter_image(image, pointers, Int32(pointers.count), Int32(outermost.count), zygote, zygoteInside, &error, error.count) == 0 else {
            fatal("entering the interpreter image: " + String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        var argv = ([zygoteInside] + innerArguments).map { strdup($0) } + [nil]
        execv(zygoteInside, &argv)
        fatal("exec \(zygoteInside) in the image: \(String(cString: strerror(errno)))")
    }
}
