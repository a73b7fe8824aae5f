// CPython for Swift. <sys/select.h> must precede Python.h: Debian's pyconfig.h
// defines _GNU_SOURCE, and without this fd_set clashes with SwiftGlibc's.
#include <sys/select.h>
#define PY_SSIZE_T_CLEAN
#include <Python.h>

// Py_None and friends are macros over globals that Swift cannot import safely.
static inline PyObject *crucible_py_none(void) { return Py_None; }
static inline void crucible_py_incref(PyObject *o) { Py_INCREF(o); }
static inline void crucible_py_decref(PyObject *o) { Py_XDECREF(o); }
