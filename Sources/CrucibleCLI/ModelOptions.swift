import ArgumentParser
import Crucible
import Foundation

/// Which model a command asks, and how: shared by `generate` and `mcp`.
struct ModelOptions: ParsableArguments {
    @Option(help: "URL/NAME of an OpenAI-compatible server's model, or NAME with OPENAI_BASE_URL set.")
    var model: String?

    @Option(help: "Replay replies from this JSON Lines file instead of asking a server.")
    var scripted: String?

    @Option(help: "Retries after the first attempt: 3 means at most 4 model calls per task.")
    var maxRetries: Int = 3

    @Option(help: "Sampling temperature to send (unsent: the server's default).")
    var temperature: Double?

    @Option(help: "max_tokens to send (unsent: the server's default).")
    var maxTokens: Int?

    @Option(help: "Seed to send, for servers that honor it.")
    var seed: Int?

    @Flag(help: "Ask the server to stream (SSE); generate with one task shows the reply on stderr as it arrives.")
    var stream = false

    @Option(help: "HTTP attempts per model call (connection errors, 429, 5xx and timeouts are retried with backoff).")
    var httpAttempts: Int = 4

    @Option(help: "Seconds one model request may take.")
    var requestTimeout: Double = 120

    var isConfigured: Bool { model != nil || scripted != nil }

    func validate() throws {
        guard model == nil || scripted == nil else { throw ValidationError("give at most one of --model and --scripted") }
        try SettingRange.maxRetries.validate(maxRetries, flag: "--max-retries")
        try SettingRange.httpAttempts.validate(httpAttempts, flag: "--http-attempts")
        try SettingRange.requestTimeout.validate(requestTimeout, flag: "--request-timeout")
        if let temperature { try SettingRange.temperature.validate(temperature, flag: "--temperature") }
        if let maxTokens { try SettingRange.maxTokens.validate(maxTokens, flag: "--max-tokens") }
    }

    /// The model client; nil when neither --model nor --scripted was given.
    /// `showStream`: write streamed text to stderr as it arrives (one task at a time only, or
    /// the replies would interleave).
    func makeModel(showStream: Bool = false) throws -> ChatModel? {
        do {
            if let scripted { return try ScriptedModel(path: scripted) }
            guard let model else { return nil }
            var client = try OpenAIChatModel.from(modelArgument: model)
            client.stream = stream
            if stream && showStream {
                client.onStreamedText = { text in FileHandle.standardError.write(Data(text.utf8)) }
            }
            client.maxHTTPAttempts = httpAttempts
            client.requestTimeout = requestTimeout
            return client
        } catch { throw ValidationError("\(error)") }
    }

    var settings: RetryLoop.Settings {
        var settings = RetryLoop.Settings()
        settings.maxRetries = maxRetries
        settings.parameters = SamplingParameters(temperature: temperature, maxTokens: maxTokens, seed: seed)
        return settings
    }
}
