/// Confinement layers a worker applies; all are on unless a test turns one off.
public struct ConfinementLayers: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let closeDescriptors = ConfinementLayers(rawValue: 1 << 0)
    public static let resourceLimits = ConfinementLayers(rawValue: 1 << 1)
    public static let processControls = ConfinementLayers(rawValue: 1 << 2)
    public static let landlock = ConfinementLayers(rawValue: 1 << 3)
    public static let seccomp = ConfinementLayers(rawValue: 1 << 4)

    public static let all: ConfinementLayers = [
        .closeDescriptors, .resourceLimits, .processControls, .landlock, .seccomp,
    ]
}
