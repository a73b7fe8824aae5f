import CrucibleSandbox
import CrucibleWire
import Foundation

/// Turns the JSON Lines of each config into Parquet with pyarrow, the reference Parquet
/// implementation (what `datasets` itself reads and writes with), run by the host's python3.
/// pyarrow comes from a package environment (issue 19's mechanism: installed once by pip,
/// keyed by the interpreter and the pinned requirement, cached under ~/.cache/crucible), or
/// from the folder `CRUCIBLE_PYARROW` names. Each row shape has an explicit Arrow schema
/// here, so an empty split still has its columns and a field the Swift side adds without
/// declaring it here fails the export instead of changing the dataset's features quietly.
public struct ParquetWriter {
    public static let requirement = "pyarrow==26.0.1"
    public static let overrideVariable = "CRUCIBLE_PYARROW"

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// What was written, per config: its features (the card's YAML shape) and each split's file.
    struct Written {
        struct Split {
            var name: String
            var path: String
            var rows: Int
            var bytes: Int
            var fileBytes: Int
        }
        struct Config {
            var features: JSONValue
            var splits: [Split]
        }
        var configs: [String: Config]
    }

    /// `staging/<config>/<split>.jsonl` into `directory/data/...parquet`.
    func convert(staging: String, into directory: String) throws -> Written {
        let site = try pyarrowSite()
        let output = staging + "/parquet.json", errors = staging + "/parquet.log"
        FileManager.default.createFile(atPath: errors, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: PackageEnvironment.systemInterpreter)
        // -I: neither PYTHONPATH nor user site-packages decide which pyarrow writes the files.
        process.arguments = ["-I", "-c", Self.script, site, staging, directory, output]
        process.standardError = FileHandle(forWritingAtPath: errors)
        process.standardOutput = FileHandle(forWritingAtPath: errors)
        do { try process.run() } catch {
            throw Failure(description: "--format hf: cannot start \(PackageEnvironment.systemInterpreter) to write Parquet: \(error)")
        }
        process.waitUntilExit()
        let log = (FileManager.default.contents(atPath: errors).map { String(decoding: $0, as: UTF8.self) } ?? "")
            .split(separator: "\n").suffix(8).joined(separator: "\n")
        guard process.terminationStatus == 0 else {
            if process.terminationStatus == 3 { throw Self.missing(detail: log) }
            throw Failure(description: "--format hf: writing Parquet with pyarrow failed (exit \(process.terminationStatus)):\n\(log)")
        }
        guard let data = FileManager.default.contents(atPath: output), let json = try? JSONValue(parsing: String(decoding: data, as: UTF8.self)) else {
            throw Failure(description: "--format hf: the Parquet step said nothing readable:\n\(log)")
        }
        var configs: [String: Written.Config] = [:]
        guard case .object(let members) = json else { throw Failure(description: "--format hf: the Parquet step said nothing readable:\n\(log)") }
        for (name, config) in members {
            configs[name] = Written.Config(features: config["features"] ?? .array([]), splits: (config["splits"]?.arrayValue ?? []).map {
                Written.Split(name: $0["name"]?.stringValue ?? "?", path: $0["path"]?.stringValue ?? "?", rows: $0["num_examples"]?.intValue ?? 0,
                              bytes: $0["num_bytes"]?.intValue ?? 0, fileBytes: $0["file_bytes"]?.intValue ?? 0)
            })
        }
        return Written(configs: configs)
    }

    static func missing(detail: String) -> Failure {
        Failure(description: """
            --format hf writes Parquet with pyarrow (\(requirement)), which is not available: \(detail)
            crucible installs it once with pip into \(PackageEnvironment.storeDirectory) (PyPI must be reachable then): \
            run the export again where it is, or install it yourself and point crucible at it:
                python3 -m pip install --target DIR \(requirement)
                \(overrideVariable)=DIR crucible corpus export --format hf ...
            """)
    }

    /// The folder to put on sys.path for pyarrow.
    func pyarrowSite() throws -> String {
        if let given = ProcessInfo.processInfo.environment[Self.overrideVariable], !given.isEmpty {
            guard FileManager.default.fileExists(atPath: given + "/pyarrow") else {
                throw Self.missing(detail: "\(Self.overrideVariable)=\(given) holds no pyarrow folder.")
            }
            return given
        }
        // PackageEnvironment is async (it runs pip); the export is not: wait here, off the cooperative pool.
        final class Outcome: @unchecked Sendable { var result: Result<String, Error>? }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                let environment = try await PackageEnvironment.prepare(
                    [Self.requirement], for: try await PythonInterpreter.system(),
                    progress: { FileHandle.standardError.write(Data("export: \($0)\n".utf8)) })
                outcome.result = .success(environment.site)
            } catch { outcome.result = .failure(error) }
            done.signal()
        }
        done.wait()
        do { return try outcome.result!.get() } catch { throw Self.missing(detail: "\(error)") }
    }

    /// Reads each config's JSON Lines with its explicit schema, writes one Parquet file per
    /// split (beside its final name, then renamed), and reports the features as the dataset
    /// card's YAML spells them (`datasets`' own `Features._to_yaml_list` shape).
    static let script = #"""
        import json, os, sys
        site, staging, directory, output = sys.argv[1:5]
        sys.path.insert(0, site)
        try:
            import pyarrow as pa
            import pyarrow.json as pajson
            import pyarrow.parquet as pq
        except ImportError as error:
            print("pyarrow cannot be imported from %s: %s" % (site, error), file=sys.stderr)
            sys.exit(3)

        S = pa.string()
        CALL = pa.struct([("id", S), ("type", S), ("function", pa.struct([("name", S), ("arguments", pa.struct([("code", S)]))]))])
        MESSAGE = pa.struct([("role", S), ("content", S), ("tool_calls", pa.list_(CALL)), ("tool_call_id", S), ("name", S)])
        PARAMETERS = pa.struct([("type", S), ("properties", pa.struct([("code", pa.struct([("type", S), ("description", S)]))])),
                                ("required", pa.list_(S))])
        TOOL = pa.struct([("type", S), ("function", pa.struct([("name", S), ("description", S), ("parameters", PARAMETERS)]))])
        SCHEMAS = {
            "default": pa.schema([("prompt", pa.list_(MESSAGE)), ("completion", pa.list_(MESSAGE)), ("tools", pa.list_(TOOL))]),
            "rl": pa.schema([("prompt", pa.list_(pa.struct([("role", S), ("content", S)]))), ("task_id", S), ("kind", S),
                             ("rulesets", pa.list_(S)), ("runtime", S), ("check", S), ("check_prelude", S), ("check_python", S),
                             ("expected", S), ("tools", pa.list_(S))]),
        }
        DTYPES = {pa.string(): "string", pa.int64(): "int64", pa.bool_(): "bool", pa.float64(): "float64"}

        def feature(kind):
            if pa.types.is_struct(kind):
                return {"struct": [dict(name=field.name, **feature(field.type)) for field in kind]}
            if pa.types.is_list(kind):
                inner = feature(kind.value_type)
                return {"list": inner.get("dtype", inner.get("struct", inner))}
            return {"dtype": DTYPES[kind]}

        result = {}
        for config in sorted(os.listdir(staging)):
            if config not in SCHEMAS:
                continue
            schema = SCHEMAS[config]
            folder = "data" if config == "default" else "data/" + config
            os.makedirs(os.path.join(directory, folder), exist_ok=True)
            splits = []
            for split in ("train", "validation", "test"):
                source = os.path.join(staging, config, split + ".jsonl")
                if os.path.getsize(source):
                    # One block holds the whole file: a row may be larger than the 1 MiB default.
                    table = pajson.read_json(source, read_options=pajson.ReadOptions(block_size=max(1 << 20, os.path.getsize(source) + 1)),
                                             parse_options=pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"))
                    table = table.select(schema.names).cast(schema)
                else:
                    table = schema.empty_table()
                path = "%s/%s-00000-of-00001.parquet" % (folder, split)
                target = os.path.join(directory, path)
                pq.write_table(table, target + ".partial")
                os.replace(target + ".partial", target)
                splits.append({"name": split, "path": path, "num_examples": table.num_rows, "num_bytes": table.nbytes,
                               "file_bytes": os.path.getsize(target)})
            result[config] = {"features": [dict(name=field.name, **feature(field.type)) for field in schema], "splits": splits}
        with open(output, "w") as handle:
            json.dump(result, handle)
        """#
}
