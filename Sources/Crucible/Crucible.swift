// The Crucible library: one import for a Swift host that embeds the whole pipeline.
@_exported import CrucibleConfiguration
@_exported import CrucibleCorpus
@_exported import CrucibleGeneration
@_exported import CrucibleMCP
@_exported import CrucibleSandbox
@_exported import CrucibleServe
@_exported import CrucibleTools
@_exported import CrucibleValidation
@_exported import CrucibleWire
