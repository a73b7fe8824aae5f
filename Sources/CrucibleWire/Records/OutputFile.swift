import Foundation

/// A file the code wrote under /output, as the host accepted it: a safe relative name, the
/// bytes, and a media type the host decides from the bytes (and the name's extension only for
/// text), never from anything the worker claims.
public struct OutputFile: Sendable, Equatable {
    public var name: String
    public var mediaType: String
    public var data: [UInt8]

    public init(name: String, data: [UInt8]) {
        self.name = name
        self.data = data
        self.mediaType = Self.mediaType(name: name, data: data)
    }

    /// Files one execution may return, whatever their size.
    package static let maxCount = 64

    /// Whether a name is one the worker's runtime writes: relative, no `.` or `..` part, no
    /// control characters, at most 255 bytes.
    package static func isSafeName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255, !name.hasPrefix("/"),
            !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        else { return false }
        return name.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }

    static func mediaType(name: String, data: [UInt8]) -> String {
        func starts(_ prefix: [UInt8]) -> Bool { data.count >= prefix.count && Array(data.prefix(prefix.count)) == prefix }
        if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return "image/png" }
        if starts([0xFF, 0xD8, 0xFF]) { return "image/jpeg" }
        if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return "image/gif" }
        if starts(Array("%PDF-".utf8)) { return "application/pdf" }
        // Text only when it decodes as UTF-8 (a multi-byte character cut at the sample's end aside).
        let sample = Array(data.prefix(4096))
        guard let text = String(validating: sample, as: UTF8.self) ?? String(validating: sample.dropLast(3), as: UTF8.self) else {
            return "application/octet-stream"
        }
        let head = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        if head.hasPrefix("<svg") || (head.hasPrefix("<?xml") && head.contains("<svg")) { return "image/svg+xml" }
        switch (name as NSString).pathExtension.lowercased() {
        case "json": return "application/json"
        case "csv": return "text/csv"
        case "html", "htm": return "text/html"
        case "md": return "text/markdown"
        default: return "text/plain"
        }
    }
}

extension [OutputFile] {
    /// `[{"name", "type", "size"}]`: the files without their bytes (the corpus, MCP's structured result).
    public var summary: JSONValue {
        .array(map { ["name": .string($0.name), "type": .string($0.mediaType), "size": .int($0.data.count)] })
    }
}

/// `{"name", "type", "size", "base64"}` in results (serve, run --json); the corpus keeps the
/// same without the bytes.
extension OutputFile: Encodable {
    enum CodingKeys: String, CodingKey { case name, type, size, base64 }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(mediaType, forKey: .type)
        try container.encode(data.count, forKey: .size)
        try container.encode(Data(data).base64EncodedString(), forKey: .base64)
    }
}
