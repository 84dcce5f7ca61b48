"""Build the compiled core: csrc/_core.pyx -> tensorcalc._core (Cython, BLAS from scipy).

The core's threads are its own small pthread pool (csrc/pool.h), not OpenMP: libgomp's
threads spin-wait after a parallel region and its pool does not survive fork().
"""

import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

# -pthread for the thread pool; MSVC builds run every step on the calling thread.
threads = [] if sys.platform == "win32" else ["-pthread"]

# Named "_core" (not "tensorcalc._core") so that Cython pairs csrc/_core.pyx with
# csrc/_core.pxd; ext_package puts the built module inside the package.
extension = Extension(
    "_core",
    sources=["csrc/_core.pyx"],  # includes csrc/sop.pxi, csrc/blas.pxi and csrc/pool.h
    include_dirs=[numpy.get_include(), "csrc"],
    depends=["csrc/pool.h", "csrc/sop.pxi", "csrc/blas.pxi"],
    define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    extra_compile_args=["-O3", *threads] if sys.platform != "win32" else [],
    extra_link_args=threads,
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
