import CrucibleWire
/// Where the retry loop (and `crucible serve`) hand each attempt record as it finishes: the
/// corpus store, a JSON Lines file, or both.
public protocol AttemptRecorder: Sendable {
    /// Keeps one record. Throws when it could not, and then the caller says so: a record is
    /// never dropped silently.
    func append(_ record: AttemptRecord) throws
}

extension AttemptLog: AttemptRecorder {}
