import CSandboxKernel
import CrucibleWire
import Foundation

/// The zygote's only loop: serve spawn requests from the host and report every
/// worker's end. Single-threaded by design; it exits when the host goes away.
struct ControlLoop {
    let factory: WorkerFactory
    let controlSocket: Int32

    func run() -> Never {
        let signals = crucible_sigchld_fd()
        guard signals >= 0 else { fatal("signalfd: \(String(cString: strerror(errno)))") }

        var buffer = [UInt8](repeating: 0, count: ControlMessage.maxSize)
        while true {
            var fds = [
                pollfd(fd: controlSocket, events: Int16(POLLIN), revents: 0),
                pollfd(fd: signals, events: Int16(POLLIN), revents: 0),
            ]
            if poll(&fds, 2, -1) < 0 {
                if errno == EINTR { continue }
                fatal("poll: \(String(cString: strerror(errno)))")
            }
            if fds[1].revents != 0 {
                crucible_drain_signalfd(signals)
                reapWorkers()
            }
            if fds[0].revents != 0 {
                let count = recv(controlSocket, &buffer, buffer.count, 0)
                if count == 0 || (count < 0 && errno != EINTR && errno != EAGAIN) {
                    // The host is gone: so are we, and PDEATHSIG takes the workers.
                    _exit(0)
                }
                if count > 0 { handle(ControlMessage.decode(buffer[0..<count])) }
            }
        }
    }

    private func handle(_ message: ControlMessage?) {
        guard case .spawn(let request, let count, let limits, let layers) = message else {
            log("ignoring an unknown control message")
            return
        }
        for _ in 0..<min(count, 256) {
            do {
                _ = try factory.spawn(request: request, limits: limits, layers: layers)
            } catch {
                send(.spawnFailed(request: request, errno: errno, reason: "\(error)"))
                return
            }
        }
    }

    private func reapWorkers() {
        while true {
            var status: Int32 = 0
            var usage = rusage()
            let pid = wait4(-1, &status, WNOHANG, &usage)
            if pid <= 0 { return }
            let cpu = UInt64(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
                + UInt64(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec)
            send(.exited(pid: pid, waitStatus: status, cpuMicroseconds: cpu, maxRSSKiB: UInt64(usage.ru_maxrss)))
        }
    }

    private func send(_ message: ControlMessage) {
        let bytes = message.encode()
        _ = bytes.withUnsafeBytes { crucible_send_with_fds(controlSocket, $0.baseAddress, $0.count, nil, 0) }
    }
}

func log(_ message: String) {
    FileHandle.standardError.write(Data("crucible-zygote: \(message)\n".utf8))
}

func fatal(_ message: String) -> Never {
    log(message)
    exit(70)
}
