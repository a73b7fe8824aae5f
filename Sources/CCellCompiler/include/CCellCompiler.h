#ifndef CRUCIBLE_CELL_COMPILER_H
#define CRUCIBLE_CELL_COMPILER_H

/// Registers the built-in module `_crucible_cells` (call before Py_Initialize).
/// Returns 1 when registered, 0 when this libpython lacks the parser entry points
/// (the shared libpython does not export them): the worker then compiles through `ast`.
int crucible_register_cell_compiler(void);

#endif
