#ifndef CRUCIBLE_CELL_COMPILER_H
#define CRUCIBLE_CELL_COMPILER_H

/// Registers the built-in module `_crucible_cells` (call before Py_Initialize).
/// Returns 1 when registered, 0 when this libpython lacks the parser entry points
/// (the shared libpython does not export them): the worker then compiles through `ast`.
int crucible_register_cell_compiler(void);

/// Makes every object the interpreter holds immortal (immortal_heap.c), so that forked
/// workers never write their reference counts. Call with the GIL held, once everything the
/// zygote keeps is loaded. Returns how many objects it marked, 0 where the interpreter has no
/// immortal objects (before 3.12) or counts references differently (free-threaded builds), -1
/// on failure (out of memory).
long crucible_immortalize_heap(void);

#endif
