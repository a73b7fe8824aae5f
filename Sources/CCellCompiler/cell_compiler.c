// `_crucible_cells.compile_cell(source, filename)`: what the worker did with `ast.parse`,
// `tree.body.pop()` and two `compile()` calls, done on CPython's C AST instead.
//
// Why: a cell's value is its last statement when that is an expression, so the worker must
// look at the parse tree. Through `ast`, CPython builds a Python object for every node and
// then converts them all back to C before compiling. In a fresh worker, whose caches are
// cold, that round trip was half of the compile of `x = 1 + 2` (BENCHMARKS.md, "Design
// measurements": cell compiler). Here the tree never leaves C.
//
// The parser entry points are internal to CPython (Py_BUILD_CORE) and not exported by the
// shared libpython; the zygote links the static one, where they are. They are declared weak,
// so a zygote linked against the shared library still builds and simply does not register
// the module.
#define PY_SSIZE_T_CLEAN
#define Py_BUILD_CORE 1
#include <Python.h>
#include <string.h>
#include "internal/pycore_ast.h"
#include "internal/pycore_compile.h"
#include "internal/pycore_parser.h"
#include "internal/pycore_pyarena.h"
#include "CCellCompiler.h"

#pragma weak _PyParser_ASTFromString
#pragma weak _PyAST_Expression

static PyObject *compile_cell(PyObject *module, PyObject *const *args, Py_ssize_t count) {
    (void)module;
    if (count != 2 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "compile_cell(source: str, filename: str)");
        return NULL;
    }
    Py_ssize_t size = 0;
    const char *source = PyUnicode_AsUTF8AndSize(args[0], &size);
    if (source == NULL) return NULL;
    if ((Py_ssize_t)strlen(source) != size) {  // the message compile() gives
        PyErr_SetString(PyExc_ValueError, "source code string cannot contain null bytes");
        return NULL;
    }
    // As compile() sets them for a str: UTF-8 source, and a coding cookie is ignored. Top-level
    // `await` is allowed, as in a notebook: such a cell compiles to a coroutine the worker runs.
    PyCompilerFlags flags = _PyCompilerFlags_INIT;
    flags.cf_flags = PyCF_SOURCE_IS_UTF8 | PyCF_IGNORE_COOKIE | PyCF_ALLOW_TOP_LEVEL_AWAIT;
    PyArena *arena = _PyArena_New();
    if (arena == NULL) return NULL;
    PyObject *result = NULL, *body_code = NULL, *last_code = NULL;
    mod_ty tree = _PyParser_ASTFromString(source, args[1], Py_file_input, &flags, arena);
    if (tree == NULL) goto done;
    asdl_stmt_seq *body = tree->v.Module.body;
    Py_ssize_t statements = asdl_seq_LEN(body);
    expr_ty last = NULL;
    if (statements > 0 && asdl_seq_GET(body, statements - 1)->kind == Expr_kind) {
        last = asdl_seq_GET(body, statements - 1)->v.Expr.value;
        body->size = statements - 1;  // the module runs without it; it is evaluated apart
    }
    // The rest first: a compile-time error is reported at the first line that has one.
    body_code = (PyObject *)_PyAST_Compile(tree, args[1], &flags, -1, arena);
    if (body_code == NULL) goto done;
    if (last != NULL) {
        mod_ty expression = _PyAST_Expression(last, arena);
        if (expression == NULL) goto done;
        last_code = (PyObject *)_PyAST_Compile(expression, args[1], &flags, -1, arena);
        if (last_code == NULL) goto done;
    }
    result = PyTuple_Pack(2, body_code, last_code ? last_code : Py_None);
done:
    Py_XDECREF(body_code);
    Py_XDECREF(last_code);
    _PyArena_Free(arena);
    return result;
}

static PyMethodDef methods[] = {
    {"compile_cell", (PyCFunction)(void (*)(void))compile_cell, METH_FASTCALL,
     "compile_cell(source, filename) -> (module code, code of the trailing expression or None)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef definition = {
    PyModuleDef_HEAD_INIT, "_crucible_cells", "Cells compiled on CPython's C AST.", -1, methods,
    NULL, NULL, NULL, NULL,
};

static PyObject *init_module(void) { return PyModule_Create(&definition); }

int crucible_register_cell_compiler(void) {
    if (_PyParser_ASTFromString == NULL || _PyAST_Expression == NULL) return 0;
    return PyImport_AppendInittab("_crucible_cells", init_module) == 0;
}
