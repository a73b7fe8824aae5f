import CSandboxKernel
import CSeccomp
import Foundation

/// The parsed `Sandbox/sandbox.policy`: seccomp rules and Landlock settings.
struct SandboxPolicy {
    struct Condition: Equatable {
        var argument: UInt32
        var operation: scmp_compare
        var value: UInt64
        var mask: UInt64  // only for masked equality
    }
    enum Action: Equatable {
        case allow, trap, errno(Int32)
    }
    struct Rule {
        var line: Int
        var action: Action
        var syscall: String
        var conditions: [Condition]
    }

    var defaultAction: Action = .trap
    var rules: [Rule] = []
    var landlockReadPaths: [String] = []
    var landlockDenyTCP = false
    var landlockScopes: [String] = []
    /// Threads a worker may start besides its main thread; nil: the policy sets no bound.
    var maxThreads: Int?

    /// The constant the BPF carries in place of the worker's pid; each worker patches it.
    static let selfPlaceholder: UInt64 = 0x7FFF_FF5E

    struct ParseError: Error, CustomStringConvertible {
        var file: String, line: Int, message: String
        var description: String { "\(file):\(line): \(message)" }
    }

    init(contentsOf path: String) throws {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first
                .map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            if line.isEmpty { continue }
            do {
                try parse(line: line, number: index + 1)
            } catch let message as String {
                throw ParseError(file: path, line: index + 1, message: message)
            }
        }
        try checkNoCallIsBothConditionalAndUnconditional(file: path)
    }

    private mutating func parse(line: String, number: Int) throws {
        var words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        let head = words.removeFirst()
        switch head {
        case "default":
            defaultAction = try Self.action(&words)
        case "threads":
            guard words.count == 1, let count = Int(words[0]), (0...4096).contains(count) else {
                throw "threads takes one count from 0 to 4096"
            }
            maxThreads = count
        case "landlock":
            guard !words.isEmpty else { throw "landlock needs read, deny or scope" }
            let kind = words.removeFirst()
            switch kind {
            case "read": landlockReadPaths += words
            case "deny":
                guard words == ["tcp"] else { throw "landlock deny takes only tcp" }
                landlockDenyTCP = true
            case "scope":
                for scope in words where !["abstract-unix", "signal"].contains(scope) {
                    throw "unknown landlock scope \(scope)"
                }
                landlockScopes += words
            default: throw "unknown landlock setting \(kind)"
            }
        default:
            words.insert(head, at: 0)
            let action = try Self.action(&words)
            let rest = words.joined(separator: " ")
            if let colon = rest.firstIndex(of: ":") {
                let name = rest[..<colon].trimmingCharacters(in: .whitespaces)
                guard !name.contains(" ") else { throw "a conditional rule names exactly one syscall" }
                let clauses = rest[rest.index(after: colon)...].split(separator: ",").map {
                    $0.trimmingCharacters(in: .whitespaces)
                }
                for conditions in try Self.expand(clauses.map(Self.condition)) {
                    rules.append(Rule(line: number, action: action, syscall: name, conditions: conditions))
                }
            } else {
                guard !words.isEmpty else { throw "rule names no syscall" }
                for name in words { rules.append(Rule(line: number, action: action, syscall: name, conditions: [])) }
            }
        }
    }

    private static func action(_ words: inout [String]) throws -> Action {
        guard !words.isEmpty else { throw "missing action" }
        switch words.removeFirst() {
        case "allow": return .allow
        case "trap": return .trap
        case "errno":
            guard !words.isEmpty, let code = errnoCodes[words.removeFirst()] else { throw "errno needs a known name" }
            return .errno(code)
        case let other: throw "unknown action \(other)"
        }
    }

    /// A parsed clause; `& MASK != 0` is kept as a list of alternatives (one per bit).
    private static func condition(_ clause: String) throws -> [Condition] {
        let parts = clause.split(separator: " ").map(String.init)
        guard let first = parts.first, first.hasPrefix("arg"), let argument = UInt32(first.dropFirst(3)), argument < 6
        else { throw "condition must start with arg0..arg5: \(clause)" }
        if parts.count == 5, parts[1] == "&" {
            let mask = try value(parts[2])
            let expected = try value(parts[4])
            switch parts[3] {
            case "==":
                return [Condition(argument: argument, operation: SCMP_CMP_MASKED_EQ, value: expected, mask: mask)]
            case "!=" where expected == 0:
                return (0..<64).compactMap { bit in
                    let b = UInt64(1) << UInt64(bit)
                    return mask & b == 0
                        ? nil : Condition(argument: argument, operation: SCMP_CMP_MASKED_EQ, value: b, mask: b)
                }
            default: throw "a masked comparison is `& MASK == VALUE` or `& MASK != 0`: \(clause)"
            }
        }
        guard parts.count == 3 else { throw "cannot read condition: \(clause)" }
        let operations: [String: scmp_compare] = [
            "==": SCMP_CMP_EQ, "!=": SCMP_CMP_NE, "<": SCMP_CMP_LT, "<=": SCMP_CMP_LE,
            ">": SCMP_CMP_GT, ">=": SCMP_CMP_GE,
        ]
        guard let operation = operations[parts[1]] else { throw "unknown comparison \(parts[1])" }
        return [Condition(argument: argument, operation: operation, value: try value(parts[2]), mask: 0)]
    }

    /// ANDed clauses where some are ORs of alternatives become several ORed rules.
    private static func expand(_ clauses: [[Condition]]) throws -> [[Condition]] {
        var rules: [[Condition]] = [[]]
        for alternatives in clauses {
            rules = rules.flatMap { prefix in alternatives.map { prefix + [$0] } }
        }
        return rules
    }

    private static func value(_ text: String) throws -> UInt64 {
        var total: UInt64 = 0
        for part in text.split(separator: "|") {
            let name = String(part)
            if name == "self" { total |= selfPlaceholder }
            else if let known = constants[name] { total |= known }
            else if name.hasPrefix("0x"), let hex = UInt64(name.dropFirst(2), radix: 16) { total |= hex }
            else if let decimal = UInt64(name) { total |= decimal }
            else { throw "unknown constant \(name)" }
        }
        return total
    }

    private func checkNoCallIsBothConditionalAndUnconditional(file: String) throws {
        var unconditional: [String: Int] = [:]
        var conditional: [String: Int] = [:]
        for rule in rules {
            if rule.conditions.isEmpty {
                if let earlier = unconditional[rule.syscall] {
                    throw ParseError(file: file, line: rule.line, message: "\(rule.syscall) already listed on line \(earlier)")
                }
                unconditional[rule.syscall] = rule.line
            } else {
                conditional[rule.syscall] = rule.line
            }
        }
        for (name, line) in conditional {
            if let other = unconditional[name] {
                throw ParseError(
                    file: file, line: line,
                    message: "\(name) is unconditional on line \(other); argument checks here would be moot")
            }
        }
    }

    static let errnoCodes: [String: Int32] = ["EPERM": EPERM, "EACCES": EACCES, "ENOSYS": ENOSYS, "EINVAL": EINVAL]

    /// x86_64 Linux values of the constants the policy may name.
    static let constants: [String: UInt64] = [
        "PROT_READ": 0x1, "PROT_WRITE": 0x2, "PROT_EXEC": 0x4,
        "MAP_SHARED": 0x1, "MAP_PRIVATE": 0x2,
        "O_WRONLY": 0o1, "O_RDWR": 0o2, "O_CREAT": 0o100, "O_TRUNC": 0o1000, "O_APPEND": 0o2000,
        "TCGETS": 0x5401, "TIOCGWINSZ": 0x5413, "FIONBIO": 0x5421, "FIONREAD": 0x541B,
        "FIOCLEX": 0x5451, "FIONCLEX": 0x5450, "TIOCSTI": 0x5412,
        "F_DUPFD": 0, "F_GETFD": 1, "F_SETFD": 2, "F_GETFL": 3, "F_SETFL": 4, "F_DUPFD_CLOEXEC": 1030,
        "AF_UNIX": 1, "SIGSYS": 31,
    ]
}

extension String: @retroactive Error {}

/// A compiled seccomp program: the BPF a worker loads, built once in the zygote.
struct SeccompProgram {
    var instructions: [UInt64]  // struct sock_filter is 8 bytes
    var ruleCount: Int

    init(policy: SandboxPolicy) throws {
        func action(_ a: SandboxPolicy.Action) -> UInt32 {
            switch a {
            case .allow: return crucible_scmp_act_allow()
            case .trap: return crucible_scmp_act_trap()
            case .errno(let code): return crucible_scmp_act_errno(UInt32(code))
            }
        }
        guard let context = seccomp_init(action(policy.defaultAction)) else { throw "seccomp_init failed" }
        defer { seccomp_release(context) }
        // Other ABIs (x32 numbers, i386 int 0x80) are trapped and reported like any other call.
        guard seccomp_attr_set(context, SCMP_FLTATR_ACT_BADARCH, crucible_scmp_act_trap()) == 0,
            seccomp_attr_set(context, SCMP_FLTATR_CTL_NNP, 0) == 0,
            // A binary search on the syscall number instead of a list of ~200 comparisons: the
            // kernel runs the filter on every call, and when a worker loads it, it replays it for
            // each of ~460 syscall numbers to find the always-allowed ones (seccomp_cache_prepare),
            // which the list made a visible share of a fresh execution's CPU (BENCHMARKS.md,
            // "Design measurements": seccomp).
            seccomp_attr_set(context, SCMP_FLTATR_CTL_OPTIMIZE, 2) == 0
        else { throw "seccomp_attr_set failed" }
        for rule in policy.rules {
            let number = seccomp_syscall_resolve_name(rule.syscall)
            guard number != __NR_SCMP_ERROR else { throw "line \(rule.line): unknown syscall \(rule.syscall)" }
            // A rule that restates the default documents intent; libseccomp rejects it as redundant.
            if rule.action == policy.defaultAction { continue }
            let comparisons = rule.conditions.map {
                scmp_arg_cmp(
                    arg: $0.argument, op: $0.operation,
                    datum_a: $0.operation == SCMP_CMP_MASKED_EQ ? $0.mask : $0.value,
                    datum_b: $0.operation == SCMP_CMP_MASKED_EQ ? $0.value : 0)
            }
            let rc = comparisons.withUnsafeBufferPointer {
                seccomp_rule_add_array(context, action(rule.action), number, UInt32($0.count), $0.baseAddress)
            }
            guard rc == 0 else {
                throw "line \(rule.line): libseccomp refused the rule for \(rule.syscall): \(String(cString: strerror(-rc)))"
            }
        }
        let fd = crucible_memfd("crucible-seccomp")
        guard fd >= 0 else { throw "memfd_create failed" }
        defer { close(fd) }
        guard seccomp_export_bpf(context, fd) == 0 else { throw "seccomp_export_bpf failed" }
        let size = Int(lseek(fd, 0, SEEK_END))
        lseek(fd, 0, SEEK_SET)
        var words = [UInt64](repeating: 0, count: size / 8)
        let read = words.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, size) }
        guard read == size, size % 8 == 0, size > 0 else { throw "could not read the exported BPF" }
        instructions = words
        ruleCount = policy.rules.count
    }
}

