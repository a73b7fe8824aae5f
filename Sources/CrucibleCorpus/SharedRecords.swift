import CrucibleWire

/// The records of formats that two writers of one export make: hf writes the trl-tools and
/// rl rows again as Parquet. The first writer to make them leaves them here and the second
/// takes them (and they are let go), instead of making them twice.
public final class SharedRecords: Sendable {
    private let formats: Set<ExportFormat>
    private let made = Locked<[ExportFormat: CorpusExporter.Records]>([:])

    init(formats: Set<ExportFormat>) { self.formats = formats }

    /// For an export of `formats`: nil when no two of its writers make the same records.
    public static func forExport(of formats: [ExportFormat]) -> SharedRecords? {
        let madeTwice = Set(HuggingFaceDataset.configs.map(\.format)).intersection(formats)
        return formats.contains(.hf) && !madeTwice.isEmpty ? SharedRecords(formats: madeTwice) : nil
    }

    /// The records of `format`, from the writer that made them first, or nil.
    func take(_ format: ExportFormat) -> CorpusExporter.Records? {
        guard formats.contains(format) else { return nil }
        return made.withLock { $0.removeValue(forKey: format) }
    }

    /// Leaves `records` for the other writer of `format`.
    func leave(_ records: CorpusExporter.Records, for format: ExportFormat) {
        guard formats.contains(format) else { return }
        made.withLock { $0[format] = records }
    }
}
