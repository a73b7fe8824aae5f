#!/usr/bin/env python3
"""The raw findings table of PRECISION.md: the validators on the public repositories of the
libraries they exist for, each repository at a pinned commit and validated as its own project
with `crucible validate --python 3.14 --format json`.

    python3 Validators/eval/public_repos.py [--crucible PATH] [--before VALIDATORS_DIR] [--json]

Snapshots are read from /work/.mirror/OWNER+NAME/repo (git directories without a work tree, as
the `fetch` tool leaves them; --mirror names another folder) and extracted once with
`git archive COMMIT` into ${XDG_CACHE_HOME:-~/.cache}/crucible/eval/public/.

Verdicts come from public_verdicts.json beside this script, keyed by repository, path, rule and
line; a finding without one is printed as "unjudged" (judge it: read the code around it).

--before DIR also runs an older copy of the validators (e.g. `git archive HEAD Validators |
tar -x -C /tmp/before`, then --before /tmp/before/Validators) directly on the Python 3.14 image's
interpreter through engine_direct.py (same findings as crucible validate; no `--with`
packages), and adds before/after counts per rule.
"""
import argparse
import collections
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPOSITORY = os.path.dirname(os.path.dirname(HERE))
VERDICTS = os.path.join(HERE, "public_verdicts.json")
TDOM = "0.1.20"  # as corpus.toml: the tdom the sandbox gets with --with, where crucible has it

# (repository, commit): the snapshots judged in PRECISION.md.
REPOS = [
    ("t-strings/tdom", "52a058e1e5c0d567a609abe89517946926c1a621"),
    ("pauleveritt/tdom-svcs", "d2f6e3a1f7f0ff9295fe596ea29316e024c3befd"),
    ("pauleveritt/svcs-di", "4ee61ff5c623c4dea96e2e18f44ef5a6e7782771"),
    ("hynek/svcs", "7d56b11e49c7edb313bbcf2503f2a6e804976209"),
    ("pauleveritt/storyville", "5fe71ce49dcf15674dbda063135f8dd4a3a9c954"),
]


def progress(message):
    print("public_repos: " + message, file=sys.stderr, flush=True)


def cache_root():
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "crucible")


def extract(mirror, repo, commit, out):
    """The snapshot's files in out/OWNER+NAME/ (extracted once per commit); its folder name."""
    name = repo.replace("/", "+")
    folder = os.path.join(out, name)
    marker = os.path.join(out, "." + name + ".commit")
    if os.path.isdir(folder) and os.path.exists(marker):
        with open(marker) as handle:
            if handle.read() == commit:
                return name
    git_dir = os.path.join(mirror, name, "repo")
    if not os.path.isdir(git_dir):
        sys.exit("public_repos: no snapshot of %s at %s: fetch github:%s first" % (repo, git_dir, repo))
    progress("extracting %s at %s" % (repo, commit[:12]))
    subprocess.run(["rm", "-rf", folder], check=True)
    os.makedirs(folder)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", commit], capture_output=True)
    if archive.returncode != 0:
        sys.exit("public_repos: %s has no commit %s (%s): fetch it again, or update REPOS"
                 % (git_dir, commit, archive.stderr.decode().strip()))
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    with open(marker, "w") as handle:
        handle.write(commit)
    return name


def run_crucible(crucible, folder, cwd):
    help_text = subprocess.run([crucible, "validate", "--help"], capture_output=True, text=True).stdout
    argv = [crucible, "validate", "--python", "3.14", "--format", "json"]
    if "--with" in help_text:
        argv += ["--with", "tdom==" + TDOM]
    process = subprocess.run(argv + [folder], cwd=cwd, capture_output=True, text=True)
    if process.returncode not in (0, 1):
        sys.exit("public_repos: crucible validate failed (exit %d) on %s:\n%s"
                 % (process.returncode, folder, process.stderr.strip()[-3000:]))
    return json.loads(process.stdout or "[]")


def image_python():
    """argv that runs the Python 3.14 image's interpreter outside the sandbox, through the
    image's own loader and libraries."""
    root = os.path.join(cache_root(), "python", "3.14")
    if not os.path.exists(os.path.join(root, "usr", "bin", "python3.14")):
        sys.exit("public_repos: no Python 3.14 image at %s: run `crucible python install 3.14`" % root)
    libraries = ":".join(os.path.join(root, p) for p in ("usr/lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu"))
    return ["env", "PYTHONHOME=" + os.path.join(root, "usr"), os.path.join(root, "lib64", "ld-linux-x86-64.so.2"),
            "--library-path", libraries, os.path.join(root, "usr", "bin", "python3.14")]


def run_engine(validators, folder, cwd):
    process = subprocess.run(image_python() + [os.path.join(HERE, "engine_direct.py"), validators, folder],
                             cwd=cwd, capture_output=True, text=True)
    if process.returncode != 0:
        sys.exit("public_repos: engine_direct failed on %s:\n%s" % (folder, process.stderr.strip()[-3000:]))
    return json.loads(process.stdout)


def count_files(folder):
    """How many files crucible validates in the folder (it skips these folders and hidden ones)."""
    count = 0
    for parent, subfolders, names in os.walk(folder):
        subfolders[:] = [s for s in subfolders if not s.startswith(".") and s not in ("venv", "__pycache__", "node_modules")]
        count += sum(1 for n in names if n.endswith(".py"))
    return count


def key(item):
    return (item["repo"], item["path"], item["rule"], item["line"])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crucible", default=os.environ.get("CRUCIBLE") or
                        os.path.join(REPOSITORY, ".build", "debug", "crucible"))
    parser.add_argument("--before", metavar="VALIDATORS_DIR")
    parser.add_argument("--mirror", default="/work/.mirror")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    out = os.path.join(cache_root(), "eval", "public")
    os.makedirs(out, exist_ok=True)
    verdicts = {}
    if os.path.exists(VERDICTS):
        with open(VERDICTS) as handle:
            verdicts = {key(item): item for item in json.load(handle)}

    rows, before, files = [], [], {}

    def row(repo, commit, folder, finding):
        item = {"repo": repo, "commit": commit, "path": os.path.relpath(finding["path"], folder),
                "line": finding["line"], "rule": finding["rule"], "message": finding["message"]}
        judged = verdicts.get(key(item), {})
        item["verdict"], item["why"] = judged.get("verdict", "unjudged"), judged.get("why", "")
        return item

    for repo, commit in REPOS:
        folder = extract(options.mirror, repo, commit, out)
        files[repo] = count_files(os.path.join(out, folder))
        progress("validating %s (%d .py files)" % (repo, files[repo]))
        rows += [row(repo, commit, folder, f) for f in run_crucible(os.path.abspath(options.crucible), folder, out)]
        if options.before:
            progress("validating %s with %s" % (repo, options.before))
            before += [row(repo, commit, folder, f) for f in run_engine(os.path.abspath(options.before), folder, out)]

    if options.json:
        json.dump({"repos": [{"repo": r, "commit": c, "files": files[r]} for r, c in REPOS], "findings": rows,
                   "before": before if options.before else None}, sys.stdout, indent=1)
        print()
        return
    print("| repository | commit | path | line | rule | verdict | why |")
    print("|---|---|---|---:|---|---|---|")
    for item in sorted(rows, key=lambda r: (r["repo"], r["path"], r["line"], r["rule"])):
        print("| %s | %s | %s | %d | %s | %s | %s |" % (item["repo"], item["commit"][:12], item["path"], item["line"],
                                                   item["rule"], item["verdict"], item["why"] or item["message"]))
    if options.before:
        gone = {key(i) for i in before} - {key(i) for i in rows}
        print()
        print("Findings of the --before validators that the current ones no longer report:")
        print()
        print("| repository | path | line | rule | verdict | why |")
        print("|---|---|---:|---|---|---|")
        for item in sorted((i for i in before if key(i) in gone), key=key):
            print("| %s | %s | %d | %s | %s | %s |" % (item["repo"], item["path"], item["line"], item["rule"],
                                                  item["verdict"], item["why"] or item["message"]))
    print()
    print_rates(rows, before if options.before else None)
    print()
    for repo, commit in REPOS:
        print("%s@%s: %d .py files, %d findings%s" % (
            repo, commit[:12], files[repo], sum(1 for r in rows if r["repo"] == repo),
            " (before: %d)" % sum(1 for r in before if r["repo"] == repo) if options.before else ""))


def print_rates(rows, before):
    """Per rule: findings, true, false, unjudged and the false-alarm rate (false / judged),
    before and after when there is a before."""
    def counts(items):
        table = collections.defaultdict(collections.Counter)
        for item in items:
            table[item["rule"]][item["verdict"]] += 1
        return table

    def cells(counter):
        judged = counter["true"] + counter["false"]
        rate = "%.0f%%" % (100.0 * counter["false"] / judged) if judged else "-"
        return "%d | %d | %d | %d | %s" % (sum(counter.values()), counter["true"], counter["false"],
                                           counter["unjudged"], rate)

    after = counts(rows)
    columns = "findings | true | false | unjudged | false-alarm rate"
    if before is None:
        print("| rule | %s |" % columns)
        print("|---|---:|---:|---:|---:|---:|")
    else:
        print("| rule | before: %s | after: %s |" % (columns.replace(" | ", " | before: "),
                                                    columns.replace(" | ", " | after: ")))
        print("|---|" + "---:|" * 10)
    earlier = counts(before or [])
    for rule in sorted(set(after) | set(earlier)):
        if before is None:
            print("| %s | %s |" % (rule, cells(after[rule])))
        else:
            print("| %s | %s | %s |" % (rule, cells(earlier[rule]), cells(after[rule])))
    total_after = sum(after.values(), collections.Counter())
    if before is None:
        print("| all | %s |" % cells(total_after))
    else:
        print("| all | %s | %s |" % (cells(sum(earlier.values(), collections.Counter())), cells(total_after)))

if __name__ == "__main__":
    main()
