"""Build the compiled core: csrc/_core.pyx -> tensorcalc._core (Cython, BLAS from scipy)."""

import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# OpenMP lets large SOP loops use both cores; MSVC spells the flag differently.
openmp = ["/openmp"] if sys.platform == "win32" else ["-fopenmp"]

# Named "_core" (not "tensorcalc._core") so that Cython pairs csrc/_core.pyx with
# csrc/_core.pxd; ext_package puts the built module inside the package.
extension = Extension(
    "_core",
    sources=["csrc/_core.pyx"],  # includes csrc/sop.pxi and csrc/blas.pxi
    include_dirs=[numpy.get_include(), "csrc"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=["-O3", *openmp] if sys.platform != "win32" else openmp,
    extra_link_args=openmp if sys.platform != "win32" else [],
)

setup(
    ext_package="tensorcalc",
    ext_modules=cythonize(
        [extension],
        include_path=["csrc"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    ),
)
