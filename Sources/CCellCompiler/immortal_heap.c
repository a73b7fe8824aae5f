// `crucible_immortalize_heap()`: every object the zygote holds once it is ready to fork,
// made immortal (PEP 683, Python 3.12 and later).
//
// Why: a worker shares the zygote's pages until it writes to one, and CPython writes to an
// object each time it takes or drops a reference to it. A fresh worker's job touches hundreds
// of the zygote's objects (modules, functions, code, strings, the worker's own state), and the
// first write to each page copies it: a copy-on-write fault, and a page to free when the
// worker exits. The reference count of an immortal object is never written, so its page stays
// shared (BENCHMARKS.md, "Design measurements": immortal heap). gc.freeze(), called after
// this, keeps the collector from writing to them too.
//
// Nothing is lost by it: the zygote's objects live as long as the zygote does anyway (it runs
// no Python of its own after start-up, only the workers it forks), and its heap holds no user
// data. A worker still frees what it creates. On 3.11, which has no immortal objects, and on
// free-threaded builds, whose reference counts are laid out differently, this does nothing.
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include "CCellCompiler.h"

#if PY_VERSION_HEX >= 0x030C0000 && !defined(Py_GIL_DISABLED)

struct pending {
    PyObject **items;
    size_t count, capacity;
};

static int push(struct pending *pending, PyObject *op) {
    if (pending->count == pending->capacity) {
        size_t capacity = pending->capacity ? pending->capacity * 2 : 4096;
        PyObject **items = realloc(pending->items, capacity * sizeof *items);
        if (!items) return -1;
        pending->items = items;
        pending->capacity = capacity;
    }
    pending->items[pending->count++] = op;
    return 0;
}

// Marks `op` immortal the way CPython marks its own (_Py_SetImmortal), and queues it so that
// what it refers to is reached too: the collector's list holds only tracked containers, not
// the strings, numbers and untracked tuples inside them.
static int reach(PyObject *op, void *context) {
    if (op == NULL || _Py_IsImmortal(op)) return 0;
#if PY_VERSION_HEX >= 0x030E0000
    op->ob_refcnt = _Py_IMMORTAL_INITIAL_REFCNT;  // the low 32 bits; the flags sit above them
    // 3.14's interpreter stack tags a reference to an object by this flag, not by its count:
    // without it, pushing and popping the object still writes the count (unchecked).
    op->ob_flags |= _Py_IMMORTAL_FLAGS;
#else
    op->ob_refcnt = _Py_IMMORTAL_REFCNT;
#endif
    return push(context, op);
}

// What `op` refers to that tp_traverse does not report: the parts of a code object (not a
// collected type: its constants, names and tables), and the keys of a dict (its traverse
// skips string keys).
static int reach_untraversed(PyObject *op, struct pending *pending) {
    if (PyCode_Check(op)) {
        PyCodeObject *code = (PyCodeObject *)op;
        PyObject *parts[] = { code->co_consts, code->co_names, code->co_exceptiontable, code->co_localsplusnames,
                              code->co_localspluskinds, code->co_filename, code->co_name, code->co_qualname,
                              code->co_linetable };
        for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
            if (reach(parts[i], pending) != 0) return -1;
    } else if (PyDict_Check(op)) {
        Py_ssize_t position = 0;
        PyObject *key, *value;
        while (PyDict_Next(op, &position, &key, &value))
            if (reach(key, pending) != 0) return -1;
    }
    return 0;
}

long crucible_immortalize_heap(void) {
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *tracked = gc ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    Py_XDECREF(gc);
    if (!tracked || !PyList_Check(tracked)) {
        Py_XDECREF(tracked);
        return -1;
    }
    struct pending pending = { NULL, 0, 0 };
    Py_ssize_t made = 0;
    int failed = 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(tracked) && !failed; i++) {
        failed = reach(PyList_GET_ITEM(tracked, i), &pending) != 0;
        while (pending.count && !failed) {
            PyObject *op = pending.items[--pending.count];
            made++;
            traverseproc traverse = Py_TYPE(op)->tp_traverse;
            if (PyObject_IS_GC(op) && traverse) failed = traverse(op, reach, &pending) != 0;
            if (!failed) failed = reach_untraversed(op, &pending) != 0;
        }
    }
    free(pending.items);
    Py_DECREF(tracked);  // the list goes; its items stay, now immortal
    return failed ? -1 : made;
}

#else

long crucible_immortalize_heap(void) { return 0; }

#endif
