"""Files out: what code writes under /output comes back with the result (run --json and
serve: name, type, base64; MCP: image content for pictures, an embedded resource otherwise),
within a size cap, while every other write stays refused."""

import asyncio
import base64
import json
import os
import subprocess
import sys

import pytest
from mcp import Client, StdioServerParameters

from network import reachable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
CRUCIBLE = os.path.join(ROOT, ".build", "debug", "crucible")
sys.path.insert(0, os.path.join(ROOT, "Clients", "python"))

import crucible_client  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))
WRITES = (
    "import csv, json, os\n"
    "os.makedirs('/output/data', exist_ok=True)\n"
    "with open('/output/data/table.csv', 'w', newline='') as f:\n    csv.writer(f).writerows([['a', 'b'], [1, 2]])\n"
    "with open('/output/result.json', 'w') as f:\n    json.dump({'ok': True}, f)\n"
    "with open('/output/picture.png', 'wb') as f:\n    f.write(%r)\n"
    "json.load(open('/output/result.json'))\n" % PNG
)


def run(code, *args):
    result = subprocess.run([CRUCIBLE, "run", "-", "--json", *args], input=code, capture_output=True, text=True, timeout=300)
    return json.loads(result.stdout)


def test_files_written_under_output_come_back_with_their_types_and_bytes():
    result = run(WRITES)
    assert result["outcome"] == "ok" and result["value"] == {"ok": True}  # the code read its own file back
    files = {f["name"]: f for f in result["files"]}
    assert {name: (f["type"], f["size"]) for name, f in files.items()} == {
        "data/table.csv": ("text/csv", 10), "result.json": ("application/json", 12), "picture.png": ("image/png", len(PNG))}
    assert base64.b64decode(files["picture.png"]["base64"]) == PNG
    assert base64.b64decode(files["data/table.csv"]["base64"]) == b"a,b\r\n1,2\r\n"


@pytest.mark.parametrize("path", ["/tmp/crucible-files-escape", "/output/../tmp/crucible-files-escape"])
def test_every_other_write_is_still_refused(path):
    result = run("open(%r, 'w').write('x')" % path)
    assert result["outcome"] == "exception" and result["error"]["type"] == "PermissionError", result
    assert not os.path.exists("/tmp/crucible-files-escape")
    assert "files" not in result


def test_the_size_cap_is_an_error_in_the_code_and_what_fit_still_comes_back():
    code = ("open('/output/small.txt', 'w').write('kept')\n"
            "try:\n    open('/output/huge.bin', 'wb').write(bytes(9 << 20))\n"
            "except OSError as error:\n    caught = [error.errno, str(error)]\ncaught")
    result = run(code)
    assert result["outcome"] == "ok"
    assert result["value"][0] == 27 and "8388608 bytes" in result["value"][1]  # EFBIG, naming the cap
    # As on a disk: the file was created, the write that would pass the cap was refused.
    assert [(f["name"], f["size"]) for f in result["files"]] == [("small.txt", 4), ("huge.bin", 0)]


def test_a_name_or_a_count_the_host_would_refuse_is_an_error_at_open_and_the_rest_comes_back():
    # The host refuses a result whose files it cannot take (a control character or over 255
    # bytes in a name, more than 64 files) as a protocol violation, losing everything: the
    # code is refused at open() instead, and its value, output and other files survive.
    code = ("errors = []\n"
            "for name in ['a\\nb.txt', 'x' * 256 + '.txt', *('f%02d.txt' % i for i in range(65))]:\n"
            "    try:\n        open('/output/' + name, 'w').write('1')\n"
            "    except OSError as error:\n        errors.append((name[:5], error.errno))\n"
            "print('printed')\nerrors")
    result = run(code)
    assert result["outcome"] == "ok", result
    assert result["value"] == [["a\nb.t", 22], ["xxxxx", 36], ["f64.t", 28]]
    assert result["stdout"] == "printed\n"
    assert sorted(f["name"] for f in result["files"]) == ["f%02d.txt" % i for i in range(64)]


def test_serve_returns_each_cells_files_and_a_session_starts_each_cell_empty(tmp_path):
    with crucible_client.Crucible(stderr=subprocess.DEVNULL, cwd=tmp_path) as client:
        session = client.open_session(persistent=True)
        first = client.execute("open('/output/a.txt', 'w').write('one')", session=session)
        assert [(f["name"], base64.b64decode(f["base64"])) for f in first["files"]] == [("a.txt", b"one")]
        second = client.execute("import os\nx = 1", session=session)
        assert "files" not in second
        third = client.execute("open('/output/a.txt').read()", session=session)
        assert third["outcome"] == "exception" and third["error"]["type"] == "FileNotFoundError"


@pytest.mark.skipif(not reachable("pypi.org", 443), reason="pypi.org is not reachable: matplotlib cannot be installed")
def test_a_matplotlib_figure_reaches_an_mcp_client_as_image_content(tmp_path):
    code = ("import matplotlib.pyplot as plt\n"
            "plt.plot([1, 2, 3], [1, 4, 9])\nplt.savefig('/output/figure.png')\n"
            "open('/output/points.csv', 'w').write('x,y\\n1,1\\n2,4\\n3,9\\n')\n'plotted'")

    async def scenario():
        env = dict(os.environ, MPLBACKEND="Agg")
        params = StdioServerParameters(
            command=CRUCIBLE, env=env, cwd=str(tmp_path),
            # matplotlib wants a writable config folder when it is imported: preloaded, the zygote
            # imports it before confinement.
            args=["mcp", "--with", "matplotlib==3.10.3", "--preload", "matplotlib.pyplot"])
        async with Client(params) as client:
            result = await client.call_tool("run_python", {"code": code, "timeout": 60})
            assert not result.is_error, result.content[0].text
            assert result.structured_content["value"] == "plotted"
            assert [(f["name"], f["type"]) for f in result.structured_content["files"]] == [
                ("figure.png", "image/png"), ("points.csv", "text/csv")]
            kinds = [content.type for content in result.content]
            assert kinds == ["text", "image", "resource"]
            image, resource = result.content[1], result.content[2]
            assert image.mime_type == "image/png" and base64.b64decode(image.data).startswith(b"\x89PNG")
            assert str(resource.resource.uri) == "file:///output/points.csv" and resource.resource.text.startswith("x,y")

    asyncio.run(asyncio.wait_for(scenario(), timeout=600))


def test_text_output_says_that_files_were_written_and_where_to_get_them():
    result = subprocess.run([CRUCIBLE, "run", "-"], input="open('/output/x.txt', 'w').write('hi')",
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout == "2\n"
    assert "1 file written under /output (x.txt): --json returns them" in result.stderr


def test_output_is_a_folder_to_os_stat_exists_isdir_and_listdir():
    # Writers check that the folder exists first (pandas' to_csv raised "Cannot save file into
    # a non-existent directory: '/output'"); what they see must match what open() finds.
    code = ("import os\n"
            "before = [os.path.isdir('/output'), os.path.exists('/output/x.txt'), os.listdir('/output')]\n"
            "open('/output/x.txt', 'w').write('hello')\n"
            "open('/output/sub/y.csv', 'w').write('a,b\\n')\n"
            "after = [os.path.isfile('/output/x.txt'), os.path.isdir('/output/sub'), os.stat('/output/x.txt').st_size,\n"
            "         os.listdir('/output'), os.listdir('/output/sub'), os.path.exists('/output/nope')]\n"
            "[before, after, os.path.isdir('/etc')]")
    result = run(code)
    assert result["value"] == [[True, False, []], [True, True, 5, ["sub", "x.txt"], ["y.csv"], False], True], result


def test_pathlib_paths_under_output_work_as_strings_do():
    # Code written today uses pathlib: Path.write_text, exists, read_bytes, iterdir.
    code = ("from pathlib import Path\n"
            "out = Path('/output')\n"
            "(out / 'a.txt').write_text('from pathlib')\n"
            "[(out / 'a.txt').exists(), (out / 'a.txt').read_text(), out.is_dir(), sorted(p.name for p in out.iterdir())]")
    result = run(code)
    assert result["value"] == [True, "from pathlib", True, ["a.txt"]], result
    assert [f["name"] for f in result["files"]] == ["a.txt"]
