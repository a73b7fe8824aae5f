import CrucibleWire
import Foundation
import Testing

/// The worker wire protocol has two sides: Sources/CrucibleWire/Worker (the host) and
/// Sandbox/python/crucible_sandbox/wire.py (the worker). These tests run the Python side and
/// hold it to the Swift side: the same kinds and sizes, a job encoded here decoded there, and
/// frames encoded there decoded here.
@Suite("Wire agreement: Swift and Python")
struct WireAgreementTests {
    /// Runs `wire.py`'s side of one check with the system python3, `input` on stdin.
    func python(_ script: String, input: String = "") throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", "import json, sys\nfrom crucible_sandbox import wire\n" + script]
        process.environment = ["PYTHONPATH": FileManager.default.currentDirectoryPath + "/Sandbox/python", "PATH": "/usr/bin:/bin"]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        (process.standardInput, process.standardOutput, process.standardError) = (stdin, stdout, stderr)
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        let errors = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw WorkerProtocolViolation("python failed: \(String(decoding: errors, as: UTF8.self))")
        }
        return String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("frame kinds, header sizes and the field-read limit are the same on both sides")
    func constants() throws {
        let python = try JSONValue(parsing: try python("""
            print(json.dumps({"kinds": wire.KINDS, "frame": wire.FRAME.size, "job": wire.JOB_HEADER.size,
                              "maxReads": wire.MAX_READS, "filesLimit": wire.DEFAULT_FILES_LIMIT}))
            """))
        var swiftKinds: [String: JSONValue] = [:]
        for kind in WorkerFrameKind.allCases { swiftKinds["\(kind)"] = .int(Int(kind.rawValue)) }
        guard case .object(let pythonKinds)? = python["kinds"] else {
            Issue.record("no kinds: \(python)")
            return
        }
        for (name, byte) in pythonKinds { #expect(swiftKinds[name] == byte, "\(name)") }
        // Only the zygote writes these two; the worker's Python never does.
        #expect(Set(swiftKinds.keys).subtracting(pythonKinds.keys) == ["seccompViolation", "confinementFailed"])
        #expect(python["frame"] == .int(WorkerFrame.headerSize + 1))
        #expect(python["job"] == .int(WorkerJob.headerSize))
        #expect(python["maxReads"] == .int(WireResult.maxReads))
        #expect(python["filesLimit"] == .int(WorkerJob.defaultFilesLimit))
    }

    @Test("a job the host encodes is the job the worker decodes")
    func job() throws {
        var job = WorkerJob(
            code: "print('héllo')\nx = 1", filename: "<cell 7 ✓>", inputs: ["n": 3, "s": "ü"], keepAlive: true,
            stdoutLimit: 123_456, stderrLimit: 1 << 40, valueLimit: 77, tools: [["name": "get_user"]], cell: 7)
        job.token = 0xFEED_FACE_CAFE_BEEF
        let hex = job.encoded().map { String(format: "%02x", $0) }.joined()
        let decoded = try JSONValue(parsing: try python("print(json.dumps(wire.decode_job(bytes.fromhex(sys.stdin.read()))))", input: hex))
        #expect(decoded == [
            "code": "print('héllo')\nx = 1", "filename": "<cell 7 ✓>", "keep_alive": true, "cell": 7,
            "token": .bigInteger("18369614221190020847"), "stdout_limit": 123_456, "stderr_limit": .int(1 << 40),
            "value_limit": 77, "inputs": ["n": 3, "s": "ü"], "tools": [["name": "get_user"]],
        ])
    }

    @Test("frames the worker encodes are the frames the host decodes")
    func frames() throws {
        let hex = try python("""
            out = (wire.frame(wire.WARM, b"")
                   + wire.frame(wire.STDOUT, "héllo".encode())
                   + wire.frame(wire.OUTPUT_DROPPED, wire.DROPPED.pack(wire.STDERR, 12345))
                   + wire.frame(wire.TOOL_CALL, b'{"tool": "t", "arguments": {}}')
                   + wire.frame(wire.RESULT, wire.TOKEN.pack(0xFEEDFACECAFEBEEF) + b'{"outcome": "ok"}'))
            print(out.hex())
            """)
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        var reader = WorkerFrameReader(maxFrame: 1 << 20)
        reader.append(bytes[...])
        var frames: [String] = []
        while let (kind, payload) = try reader.next() {
            switch try WorkerMessage(kind: kind, payload: payload) {
            case .warm: frames.append("warm")
            case .stdout(let text): frames.append("stdout \(String(decoding: text, as: UTF8.self))")
            case .outputDropped(let stderr, let count): frames.append("dropped \(stderr ? "stderr" : "stdout") \(count)")
            case .toolCall(let json): frames.append("call \(String(decoding: json, as: UTF8.self))")
            case .result(let token, let json): frames.append("result \(String(token, radix: 16)) \(String(decoding: json, as: UTF8.self))")
            default: frames.append("other")
            }
        }
        #expect(frames == [
            "warm", "stdout héllo", "dropped stderr 12345", #"call {"tool": "t", "arguments": {}}"#,
            #"result feedfacecafebeef {"outcome": "ok"}"#,
        ])
        #expect(reader.bufferedBytes == 0)
    }
}
