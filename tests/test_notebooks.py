"""The example notebooks run top to bottom without error.

Each notebook is executed with nbclient in a kernel started from this interpreter
(``sys.executable``, so the venv with clvmodels installed), with the notebooks folder
as working directory, 300 s per cell. matplotlib draws with the Agg backend (set in
conftest.py through MPLBACKEND, which the kernel inherits).
"""

import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402

import clvmodels  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


class ThisInterpreterKernels(KernelSpecManager):
    """Kernel specs whose "python3" runs ipykernel under this very interpreter.

    A "python3" spec found elsewhere on the Jupyter path (a user-wide install, a
    system Python) could start a kernel without clvmodels; this one cannot.
    """

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name=f"Python {sys.version_info.major} ({sys.executable})",
            language="python",
            env={"MPLBACKEND": "Agg", "PYDEVD_DISABLE_FILE_VALIDATION": "1"},
            resource_dir=str(NOTEBOOKS),
        )


def run_notebook(path):
    notebook = nbformat.read(path, as_version=4)
    # One extra cell (not saved) reports which interpreter and clvmodels the kernel used.
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import os, sys, clvmodels\nprint(sys.executable, os.getcwd(), clvmodels.__file__, sep='\\n')"))
    manager = KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreterKernels())
    client = nbclient.NotebookClient(
        notebook,
        km=manager,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


@pytest.mark.parametrize("name", ["quickstart", "validation", "customer_value", "subscriptions", "dask"])
def test_notebook_runs(name):
    path = NOTEBOOKS / f"{name}.ipynb"
    source = nbformat.read(path, as_version=4)
    nbformat.validate(source)
    # Shipped without outputs, so diffs stay readable and nothing stale is shown.
    assert all(not cell.get("outputs") and cell.get("execution_count") is None
               for cell in source.cells if cell.cell_type == "code")
    executed = run_notebook(path)  # raises CellExecutionError on the first failing cell
    errors = [
        output for cell in executed.cells if cell.cell_type == "code"
        for output in cell.get("outputs", []) if output.get("output_type") == "error"
    ]
    assert not errors
    # It ran under this interpreter, in the notebooks folder, with this checkout's clvmodels.
    executable, cwd, package = executed.cells[-1].outputs[0]["text"].splitlines()
    assert Path(executable) == Path(sys.executable)
    assert Path(cwd).resolve() == NOTEBOOKS
    assert Path(package).resolve().parent == Path(clvmodels.__file__).resolve().parent
