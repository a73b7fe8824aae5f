import CrucibleWire
import Foundation

/// One chat message, as OpenAI-compatible servers take it.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
    public static func system(_ text: String) -> ChatMessage { ChatMessage(role: "system", content: text) }
    public static func user(_ text: String) -> ChatMessage { ChatMessage(role: "user", content: text) }
    public static func assistant(_ text: String) -> ChatMessage { ChatMessage(role: "assistant", content: text) }

    public var json: JSONValue { ["role": .string(role), "content": .string(content)] }
}

/// Sampling parameters the caller asks for. Only the ones set are sent, and the record keeps
/// exactly what was sent: servers' defaults differ (mlx_lm.server temperature 0.0,
/// llama.cpp 0.8), so an unsent parameter means "the server's default", not a value.
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Double?
    public var topP: Double?
    public var maxTokens: Int?
    public var seed: Int?
    public init(temperature: Double? = nil, topP: Double? = nil, maxTokens: Int? = nil, seed: Int? = nil) {
        self.temperature = temperature
        self.topP = topP
        self.maxTokens = maxTokens
        self.seed = seed
    }

    /// The request fields, as sent.
    public var json: [String: JSONValue] {
        var fields: [String: JSONValue] = [:]
        if let temperature { fields["temperature"] = .double(temperature) }
        if let topP { fields["top_p"] = .double(topP) }
        if let maxTokens { fields["max_tokens"] = .int(maxTokens) }
        if let seed { fields["seed"] = .int(seed) }
        return fields
    }
}

public struct TokenUsage: Sendable, Equatable {
    public var promptTokens: Int?
    public var completionTokens: Int?
    public var totalTokens: Int?
    public var json: JSONValue {
        ["prompt_tokens": promptTokens.map { .int($0) } ?? .null,
         "completion_tokens": completionTokens.map { .int($0) } ?? .null,
         "total_tokens": totalTokens.map { .int($0) } ?? .null]
    }
}

/// What a model answered, and what it cost.
public struct ModelReply: Sendable {
    public var content: String
    /// Reasoning text, from `reasoning` or `reasoning_content`, when the server sends one.
    public var reasoning: String?
    public var finishReason: String?
    /// nil when the server reported none (LM Studio streams none, some send null).
    public var usage: TokenUsage?
    /// The model name the server reports, else the one asked for.
    public var model: String
    /// The request's sampling fields exactly as sent.
    public var parametersSent: [String: JSONValue]
    /// Wall time of the request(s), HTTP retries included.
    public var latency: Duration
    /// HTTP attempts it took (1 when the first succeeded).
    public var httpAttempts: Int
}

/// A transport or server failure: distinct from ModelRetry, which is about the model's answer.
public struct ModelFailure: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable {
        case connection, timeout, rateLimited = "rate_limited", server, client, malformed, exhausted
    }
    public var kind: Kind
    public var message: String
    /// Whether asking again may help (connection refused, 429, 5xx, timeouts, a dropped stream).
    public var retryable: Bool
    public var description: String { message }
}

/// A chat model: a server speaking the OpenAI chat-completions protocol, or a script.
public protocol ChatModel: Sendable {
    /// The model name recorded with every attempt.
    var name: String { get }
    func complete(_ messages: [ChatMessage], parameters: SamplingParameters) async throws -> ModelReply
}
