#!/usr/bin/env python3
"""Installs the already-built tree into a temporary DESTDIR (meson install
--no-rebuild only copies), then builds installed_program.cc with nothing but
`pkg-config --cflags --libs synod synod-uv` pointed into that DESTDIR and runs
it. Fails if a header, library, .pc file or SONAME link is missing, if a .pc
file hard-codes the prefix (when pkgconfig.relocatable, the default), or if
the program fails.
Also checks that the test helpers (memory_network.h, test_pki) stay out of
the installed tree.

usage: install_test.py [--meson M] --build-dir DIR --source FILE -- COMPILER [ARGS...]
"""
import argparse
import glob
import os
import shutil
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}\n{r.stderr}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--meson", default="meson")
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--extra-flags", default="")
    ap.add_argument("--relocatable", choices=["true", "false"], required=True)
    ap.add_argument("compiler", nargs="+")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="synod-install-test-")
    try:
        dest = os.path.join(tmp, "root")
        run([a.meson, "install", "-C", a.build_dir, "--no-rebuild", "--quiet",
             "--destdir", dest])
        pcs = glob.glob(os.path.join(dest, "**", "pkgconfig", "synod.pc"), recursive=True)
        if len(pcs) != 1:
            sys.exit(f"expected one installed synod.pc, found {pcs}")
        pcdir = os.path.dirname(pcs[0])
        for name in ("synod", "synod-wire", "synod-uv"):
            text = open(os.path.join(pcdir, name + ".pc")).read()
            if a.relocatable == "true" and "${pcfiledir}" not in text:
                sys.exit(f"{name}.pc is not relocatable:\n{text}")
            if "fmt" in "".join(l for l in text.splitlines() if l.startswith("Requires:")):
                sys.exit(f"{name}.pc has fmt in Requires (no public header includes it):\n{text}")
        libdir = os.path.dirname(pcdir)
        for lib in ("libsynod.so.0", "libsynod_storage.so.0", "libsynod_wire.so.0",
                    "libsynod_uv.so.0"):
            if not os.path.exists(os.path.join(libdir, lib)):
                sys.exit(f"{lib} (SONAME link) missing from {libdir}")
        for helper in ("memory_network.h", "test_pki.h"):
            found = glob.glob(os.path.join(dest, "**", helper), recursive=True)
            if found:
                sys.exit(f"test helper installed: {found}")

        env = dict(os.environ, PKG_CONFIG_PATH=pcdir)
        env.pop("PKG_CONFIG_SYSROOT_DIR", None)
        if a.relocatable == "false":
            # A build directory set up before relocatable .pc files became
            # the default: the prefix is absolute, so point pkg-config's
            # sysroot at the DESTDIR instead.
            env["PKG_CONFIG_SYSROOT_DIR"] = dest
        flags = run(["pkg-config", "--cflags", "--libs", "synod", "synod-uv"], env=env).split()
        if not any(f.startswith("-I" + dest) for f in flags):
            sys.exit(f"pkg-config flags do not point into the DESTDIR: {flags}")
        exe = os.path.join(tmp, "installed_program")
        run(a.compiler + ["-std=c++20", "-o", exe, a.source] + a.extra_flags.split() + flags)
        out = run([exe], env=dict(os.environ, LD_LIBRARY_PATH=libdir))
        print(out.strip())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
