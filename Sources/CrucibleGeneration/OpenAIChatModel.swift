import CrucibleWire
import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A client for OpenAI-compatible chat-completions servers (Ollama, llama.cpp server, vLLM,
/// LM Studio, mlx_lm.server, hosted APIs).
///
/// Tolerant where servers differ: usage missing or null, reasoning in
/// `reasoning` or `reasoning_content`, content null or "". Connection failures, 429 (honoring
/// Retry-After), 5xx, timeouts and streams that end early are retried with exponential
/// backoff; other HTTP errors and replies that are not the protocol fail at once, naming the
/// server and what it sent.
public struct OpenAIChatModel: ChatModel {
    public var baseURL: URL
    public var model: String
    public var apiKey: String?
    public var stream: Bool
    /// With `stream`: called with each piece of the reply's text as it arrives, for a person
    /// watching: a line break ends each reply, and a note says when a broken stream is asked again.
    public var onStreamedText: (@Sendable (String) -> Void)?
    public var requestTimeout: TimeInterval
    /// HTTP attempts per completion, the first included.
    public var maxHTTPAttempts: Int
    public var initialBackoff: TimeInterval

    public var name: String { model }

    public init(
        baseURL: URL, model: String, apiKey: String? = nil, stream: Bool = false, requestTimeout: TimeInterval = 120,
        maxHTTPAttempts: Int = 4, initialBackoff: TimeInterval = 0.5
    ) {
        self.baseURL = baseURL
        self.model = model
        self.apiKey = apiKey
        self.stream = stream
        self.requestTimeout = requestTimeout
        self.maxHTTPAttempts = max(1, maxHTTPAttempts)
        self.initialBackoff = initialBackoff
    }

    /// `--model URL/NAME` (the name is the last path component) or a bare NAME with the base
    /// URL from OPENAI_BASE_URL; the key from OPENAI_API_KEY.
    public static func from(
        modelArgument: String, environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> OpenAIChatModel {
        let key = environment["OPENAI_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
        if modelArgument.hasPrefix("http://") || modelArgument.hasPrefix("https://") {
            guard let slash = modelArgument.lastIndex(of: "/"), modelArgument[slash...].count > 1,
                let url = URL(string: String(modelArgument[..<slash]))
            else {
                throw ModelFailure(kind: .client, message: "--model \(modelArgument): expected URL/NAME, e.g. "
                    + "http://127.0.0.1:11434/v1/qwen2.5-coder", retryable: false)
            }
            return OpenAIChatModel(baseURL: url, model: String(modelArgument[modelArgument.index(after: slash)...]),
                                   apiKey: key)
        }
        guard let base = environment["OPENAI_BASE_URL"], let url = URL(string: base) else {
            throw ModelFailure(kind: .client, message: "--model \(modelArgument) has no server: give URL/NAME or "
                + "set OPENAI_BASE_URL", retryable: false)
        }
        return OpenAIChatModel(baseURL: url, model: modelArgument, apiKey: key)
    }

    public func requestBody(_ messages: [ChatMessage], parameters: SamplingParameters) -> JSONValue {
        var body: [String: JSONValue] = [
            "model": .string(model), "messages": .array(messages.map(\.json)), "stream": .bool(stream),
        ]
        if stream { body["stream_options"] = ["include_usage": true] }
        for (key, value) in parameters.json { body[key] = value }
        return .object(body)
    }

    public func complete(_ messages: [ChatMessage], parameters: SamplingParameters) async throws -> ModelReply {
        let started = ContinuousClock.now
        let body = requestBody(messages, parameters: parameters)
        var request = URLRequest(url: baseURL.appendingPathComponent("chat/completions"))
        request.httpMethod = "POST"
        request.timeoutInterval = requestTimeout
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        if let apiKey { request.setValue("Bearer \(apiKey)", forHTTPHeaderField: "Authorization") }
        request.httpBody = Data(body.jsonText.utf8)
        var delay = initialBackoff
        var lastFailure: ModelFailure?
        for attempt in 1...maxHTTPAttempts {
            do {
                var reply = try await exchange(request)
                if stream { onStreamedText?("\n") }
                reply.parametersSent = parameters.json
                reply.latency = ContinuousClock.now - started
                reply.httpAttempts = attempt
                return reply
            } catch let refused as Refused {
                let detail = String(decoding: refused.body.prefix(300), as: UTF8.self)
                let status = refused.response.statusCode
                if status == 429 {
                    lastFailure = ModelFailure(kind: .rateLimited, message: "\(endpoint) answered 429 (rate limited): \(detail)", retryable: true)
                    // The server's number: only a finite, positive one counts, and never past a minute.
                    if let after = refused.response.value(forHTTPHeaderField: "Retry-After").flatMap(Double.init),
                        after.isFinite, after > 0
                    {
                        delay = max(delay, min(after, 60))
                    }
                } else if status >= 500 {
                    lastFailure = ModelFailure(kind: .server, message: "\(endpoint) answered \(status): \(detail)", retryable: true)
                } else {
                    throw ModelFailure(kind: .client, message: "\(endpoint) answered \(status): \(detail)", retryable: false)
                }
            } catch let failure as ModelFailure {
                guard failure.retryable else { throw failure }
                lastFailure = failure
            } catch let error as URLError {
                let timedOut = error.code == .timedOut
                lastFailure = ModelFailure(
                    kind: timedOut ? .timeout : .connection,
                    message: timedOut ? "\(endpoint) did not answer within \(Int(requestTimeout)) s"
                        : "cannot reach \(endpoint): \(error.localizedDescription) (is the model server running?)",
                    retryable: true)
            }
            if attempt < maxHTTPAttempts {
                if stream { onStreamedText?("\n(\(lastFailure?.message ?? "no answer"); asking again)\n") }
                try await Task.sleep(for: .milliseconds(Int(delay * 1000)))
                delay = min(delay * 2, 60)
            }
        }
        let last = lastFailure?.message ?? "no answer"
        throw ModelFailure(kind: .exhausted, message: "gave up after \(maxHTTPAttempts) HTTP attempts: \(last)",
                           retryable: false)
    }

    var endpoint: String { baseURL.appendingPathComponent("chat/completions").absoluteString }

    /// A reply whose status is not 200, with the start of its body.
    private struct Refused: Error {
        var response: HTTPURLResponse
        var body: Data
    }

    /// Largest reply body read: past it the server is not speaking the protocol.
    static let maxReplyBytes = 64 << 20

    /// One HTTP exchange. A streamed reply is read event by event as it arrives, each piece of
    /// text handed to `onStreamedText` at once; any other reply is read whole.
    private func exchange(_ request: URLRequest) async throws -> ModelReply {
        var head: HTTPURLResponse?
        var body = Data()
        var events = ServerSentEvents()
        var streamed = StreamedReply(endpoint: endpoint)
        reading: for try await event in HTTPBodyStream.events(for: request) {
            switch event {
            case .response(let response): head = response
            case .body(let data) where stream && head?.statusCode == 200:
                for payload in events.feed(data) {
                    if let text = try streamed.add(payload), !text.isEmpty { onStreamedText?(text) }
                    if streamed.done { break reading }
                }
            case .body(let data):
                guard body.count + data.count <= Self.maxReplyBytes else {
                    throw ModelFailure(kind: .malformed, message: "\(endpoint) sent a reply over \(Self.maxReplyBytes >> 20) MiB",
                                       retryable: false)
                }
                body.append(data)
            }
        }
        guard let head else { throw URLError(.badServerResponse) }
        guard head.statusCode == 200 else { throw Refused(response: head, body: body) }
        guard stream else { return try parseCompletion(body) }
        for payload in events.finish() where !streamed.done {
            if let text = try streamed.add(payload), !text.isEmpty { onStreamedText?(text) }
        }
        return try streamed.reply(model: model)
    }

    func parseCompletion(_ data: Data) throws -> ModelReply {
        let text = String(decoding: data, as: UTF8.self)
        guard let object = try? JSONValue(parsing: text), case .object = object else {
            throw ModelFailure(kind: .malformed, message: "\(endpoint) sent a reply that is not JSON: "
                + text.prefix(200).debugDescription, retryable: false)
        }
        if let error = object["error"], error != .null {
            throw ModelFailure(kind: .server, message: "\(endpoint) reported an error: \(error.jsonText.prefix(300))", retryable: false)
        }
        guard let choice = object["choices"]?.arrayValue?.first, let message = choice["message"] else {
            throw ModelFailure(kind: .malformed, message: "\(endpoint) sent no choices[0].message: "
                + object.jsonText.prefix(200).debugDescription, retryable: false)
        }
        return ModelReply(
            content: message["content"]?.stringValue ?? "",
            reasoning: message["reasoning_content"]?.stringValue ?? message["reasoning"]?.stringValue,
            finishReason: choice["finish_reason"]?.stringValue, usage: Self.usage(object["usage"]),
            model: object["model"]?.stringValue ?? model, parametersSent: [:], latency: .zero, httpAttempts: 1)
    }

    static func usage(_ value: JSONValue?) -> TokenUsage? {
        guard let value, case .object = value else { return nil }
        let usage = TokenUsage(promptTokens: value["prompt_tokens"]?.intValue,
                               completionTokens: value["completion_tokens"]?.intValue,
                               totalTokens: value["total_tokens"]?.intValue)
        return usage.promptTokens == nil && usage.completionTokens == nil && usage.totalTokens == nil ? nil : usage
    }
}

/// A streamed reply put together from its chunks: `data: {chunk}` events, `data: [DONE]` at the
/// end; with include_usage a last chunk with `"choices": []` and the usage.
struct StreamedReply {
    let endpoint: String
    private var content = "", reasoning = ""
    private var finishReason: String?
    private var usage: TokenUsage?
    private var reported: String?
    private(set) var done = false

    init(endpoint: String) { self.endpoint = endpoint }

    /// Adds one event's payload; returns the text it adds to the content.
    mutating func add(_ payload: String) throws -> String? {
        if payload == "[DONE]" {
            done = true
            return nil
        }
        guard let chunk = try? JSONValue(parsing: payload), case .object = chunk else {
            throw ModelFailure(kind: .malformed, message: "\(endpoint) streamed a chunk that is not JSON: "
                + payload.prefix(200).debugDescription, retryable: false)
        }
        if let error = chunk["error"], error != .null {
            throw ModelFailure(kind: .server, message: "\(endpoint) reported an error mid-stream: \(error.jsonText.prefix(300))", retryable: true)
        }
        reported = chunk["model"]?.stringValue ?? reported
        if let found = OpenAIChatModel.usage(chunk["usage"]) { usage = found }
        var added = ""
        for choice in chunk["choices"]?.arrayValue ?? [] {
            let delta = choice["delta"] ?? choice["message"]
            added += delta?["content"]?.stringValue ?? ""
            reasoning += delta?["reasoning_content"]?.stringValue ?? delta?["reasoning"]?.stringValue ?? ""
            if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        }
        content += added
        return added
    }

    /// The reply, once the stream has ended; a stream cut short (no finish_reason, no [DONE]) is retried.
    func reply(model: String) throws -> ModelReply {
        guard done || finishReason != nil else {
            throw ModelFailure(kind: .connection, message: "\(endpoint) ended the stream before it was complete "
                + "(no finish_reason, no [DONE])", retryable: true)
        }
        return ModelReply(content: content, reasoning: reasoning.isEmpty ? nil : reasoning, finishReason: finishReason,
                          usage: usage, model: reported ?? model, parametersSent: [:], latency: .zero, httpAttempts: 1)
    }
}
