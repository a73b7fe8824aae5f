import CrucibleCorpus
import Foundation

/// SIGTERM, SIGINT or SIGHUP to `serve` or `mcp`: the corpus records still queued (the recorder
/// writes them in batches, LaterRecords.swift) are written first, then the process ends as the
/// signal would have ended it. Without this a supervisor's SIGTERM lost the last few ms of records.
/// (`http` drains on SIGTERM through its graceful shutdown.) A second signal ends it at once.
enum RecordsAtTermination {
    static let signals = [SIGTERM, SIGINT, SIGHUP]

    /// Installs the handlers; `label` starts the summary line ("crucible serve").
    static func install(_ recorder: CorpusRecorder?, label: String) {
        guard let recorder else { return }
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return }
        _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        terminationPipe = ends[1]
        let readEnd = ends[0]
        Thread.detachNewThread {
            var number: UInt8 = 0
            while read(readEnd, &number, 1) < 0 && errno == EINTR {}
            recorder.drain()
            FileHandle.standardError.write(Data("\(label): \(recorder.summary)\n".utf8))
            let signal = Int32(number)
            Foundation.signal(signal, SIG_DFL)
            // This thread may have been started with signals blocked (Swift's pool threads block most).
            var unblock = sigset_t()
            sigemptyset(&unblock)
            sigaddset(&unblock, signal)
            pthread_sigmask(SIG_UNBLOCK, &unblock, nil)
            raise(signal)
            exit(128 + signal)
        }
        for signal in signals {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                // Only async-signal-safe calls here: a write to the pipe, or _exit.
                if terminationRequested != 0 { _exit(128 + number) }
                terminationRequested = 1
                var byte = UInt8(truncatingIfNeeded: number)
                _ = write(terminationPipe, &byte, 1)
            }
            // Reads and writes the signal interrupts in other threads go on.
            action.sa_flags = SA_RESTART
            sigemptyset(&action.sa_mask)
            sigaction(signal, &action, nil)
        }
    }
}

/// Set before the handlers are installed and only read in them (plain integers: no lazy initialization in a handler).
nonisolated(unsafe) private var terminationPipe: Int32 = -1
nonisolated(unsafe) private var terminationRequested: Int32 = 0
