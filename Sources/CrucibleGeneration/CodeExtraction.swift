import Foundation

/// The code in a model's reply, and how it was found (recorded with the attempt).
public struct ExtractedCode: Sendable, Equatable {
    public var code: String
    public var note: String
}

public enum CodeExtraction {
    /// Fenced blocks are taken in this order of preference: ```python / ```py blocks, then
    /// unlabeled ones; with several, the last wins, because models that revise in one reply
    /// put the final version last. No fence at all: the whole reply is the code.
    public static func extract(from reply: String) -> ExtractedCode {
        var blocks: [(language: String, body: String)] = []
        var current: [Substring]?
        var language = ""
        for line in reply.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if current == nil, trimmed.hasPrefix("```") {
                language = trimmed.dropFirst(3).trimmingCharacters(in: .whitespaces).lowercased()
                current = []
            } else if current != nil, trimmed == "```" {
                blocks.append((language, current!.joined(separator: "\n")))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        if let open = current {  // an unclosed last fence (a reply cut off by max_tokens): keep what came
            blocks.append((language, open.joined(separator: "\n")))
        }
        guard !blocks.isEmpty else {
            return ExtractedCode(code: reply.trimmingCharacters(in: .whitespacesAndNewlines) + "\n", note: "no fenced block; the whole reply")
        }
        let python = blocks.filter { ["python", "py", "python3"].contains($0.language) }
        let unlabeled = blocks.filter { $0.language.isEmpty }
        let pool = !python.isEmpty ? python : (!unlabeled.isEmpty ? unlabeled : blocks)
        let chosen = pool.last!
        let label = chosen.language.isEmpty ? "unlabeled" : chosen.language
        let note = blocks.count == 1 ? "one \(label) block"
            : "\(blocks.count) fenced blocks; used the last \(label) block (\(pool.count) of that kind)"
        return ExtractedCode(code: chosen.body.trimmingCharacters(in: .newlines) + "\n", note: note)
    }
}
