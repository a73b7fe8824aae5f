import CrucibleSandbox
import CrucibleWire
import Prometheus

/// What `GET /metrics` reports, in Prometheus's text format: executions by outcome, their
/// latency, the pool, the queue and the requests refused. Counters are kept as requests end;
/// the gauges are read from the sandbox when scraped, so they are never stale.
final class HTTPMetrics: Sendable {
    private let registry = PrometheusCollectorRegistry()
    private let latency: DurationHistogram
    private let sandbox: Sandbox

    init(sandbox: Sandbox) {
        self.sandbox = sandbox
        latency = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "crucible", metricName: "execution", unitName: "seconds",
                helpText: "Time an execution took in its worker, as its result reports it"),
            labels: [],
            buckets: [.milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
                      .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1),
                      .seconds(2.5), .seconds(5), .seconds(10), .seconds(30), .seconds(60)])
    }

    /// One execution ended (any API: native, session cell, run_code).
    func executed(outcome: String, duration: Duration) {
        registry.makeCounter(descriptor: Self.executions, labels: [("outcome", outcome)]).increment()
        latency.record(duration)
    }

    /// A request was refused before it ran: `unauthorized`, `too_large`, `timeout` (its body was
    /// too slow), `busy`, `invalid_params`.
    func rejected(_ reason: String) {
        registry.makeCounter(descriptor: Self.rejections, labels: [("reason", reason)]).increment()
    }

    /// The text for a scrape.
    func render(inFlight: Int) -> [UInt8] {
        let counts = sandbox.executionCounts
        registry.makeGauge(descriptor: Self.workers, labels: [("state", "idle")]).set(to: Double(sandbox.idleWorkers))
        registry.makeGauge(descriptor: Self.workers, labels: [("state", "running")]).set(to: Double(counts.running))
        registry.makeGauge(descriptor: Self.queue, labels: []).set(to: Double(counts.waiting))
        registry.makeGauge(descriptor: Self.requests, labels: []).set(to: Double(inFlight))
        return registry.emitToBuffer()
    }

    // Computed: the descriptor type is not Sendable, so it cannot be a shared constant.
    private static var executions: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "crucible", metricName: "executions", unitName: "total", helpText: "Executions that ended, by outcome")
    }
    private static var rejections: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "crucible", metricName: "rejected_requests", unitName: "total", helpText: "Requests refused before running, by reason")
    }
    private static var workers: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "crucible", metricName: "pool", unitName: "workers",
        helpText: "Confined workers of the server's sandbox: forked and waiting (idle) or running an execution")
    }
    private static var queue: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "crucible", metricName: "queue", unitName: "depth", helpText: "Executions waiting for a turn (--max-queued bounds it)")
    }
    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
        namespace: "crucible", metricName: "requests_in_flight", unitName: "", helpText: "HTTP requests being answered now")
    }
}
