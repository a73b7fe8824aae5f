import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// One HTTP request whose response body arrives piece by piece, as the server sends it.
///
/// `URLSession.bytes(for:)` is what Apple platforms offer for this, and what EventSource (the
/// SSE package) builds on; swift-corelibs-foundation has no `bytes(for:)`, so neither builds on
/// Linux. A data delegate does the same: each piece is handed on when the socket delivers it.
enum HTTPBodyStream {
    enum Event: Sendable {
        case response(HTTPURLResponse)
        case body(Data)
    }

    /// The response head, then the body's pieces; ends when the body does, throws a `URLError`
    /// when the exchange fails. Cancelling the consuming task cancels the request.
    static func events(for request: URLRequest) -> AsyncThrowingStream<Event, Error> {
        let (events, continuation) = AsyncThrowingStream<Event, Error>.makeStream()
        let receiver = Receiver(continuation)
        // A session per request: its delegate is this request's receiver. The session keeps the
        // receiver alive until the task ends, then lets both go.
        let session = URLSession(configuration: .ephemeral, delegate: receiver, delegateQueue: nil)
        let task = session.dataTask(with: request)
        continuation.onTermination = { _ in
            task.cancel()
            session.finishTasksAndInvalidate()
        }
        task.resume()
        return events
    }

    private final class Receiver: NSObject, URLSessionDataDelegate, Sendable {
        let continuation: AsyncThrowingStream<Event, Error>.Continuation

        init(_ continuation: AsyncThrowingStream<Event, Error>.Continuation) { self.continuation = continuation }

        func urlSession(
            _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
            completionHandler: @escaping (URLSession.ResponseDisposition) -> Void
        ) {
            if let response = response as? HTTPURLResponse {
                continuation.yield(.response(response))
                completionHandler(.allow)
            } else {
                continuation.finish(throwing: URLError(.badServerResponse))
                completionHandler(.cancel)
            }
        }

        func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
            continuation.yield(.body(data))
        }

        func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
            if let error {
                continuation.finish(throwing: (error as? URLError) ?? URLError(.unknown))
            } else {
                continuation.finish()
            }
        }
    }
}

/// The `data:` payloads of a server-sent event stream, from bytes fed as they arrive. Each
/// `data:` line is taken as one payload, as chat-completions servers write them (one JSON
/// chunk per event); comments, `event:` and `id:` lines and keep-alives are skipped.
struct ServerSentEvents {
    private var pending: [UInt8] = []

    /// The payloads completed by `bytes`; a line cut by the end of `bytes` waits for the rest.
    mutating func feed(_ bytes: Data) -> [String] {
        pending.append(contentsOf: bytes)
        var payloads: [String] = []
        var start = 0
        while let end = pending[start...].firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
            if let payload = Self.payload(pending[start..<end]) { payloads.append(payload) }
            start = end + 1
        }
        pending.removeFirst(start)
        return payloads
    }

    /// What is left when the stream ends: a last line without its newline.
    mutating func finish() -> [String] {
        defer { pending.removeAll() }
        return Self.payload(pending[...]).map { [$0] } ?? []
    }

    private static func payload(_ line: ArraySlice<UInt8>) -> String? {
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("data:") else { return nil }
        return text.dropFirst(5).trimmingCharacters(in: .whitespaces)
    }
}
