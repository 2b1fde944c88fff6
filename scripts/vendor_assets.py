"""Copy the front-end libraries the web app serves (Leaflet and Leaflet.markercluster) from
node_modules into webmap/static/vendor/, so no page ever loads a script or stylesheet from a CDN.

Run after ``npm ci`` (the setup script does both)::

    npm ci && python scripts/vendor_assets.py

It fails loudly (exit status 1, one line per problem) when a file is missing or a package is
not at the version ``package.json`` pins, and writes ``vendor/MANIFEST.json`` with each file's
size and SHA-256 so a review can see exactly what is served.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# package -> list of (path inside the package, path under vendor/). Leaflet needs its
# images/ folder beside leaflet.css (the CSS refers to images/layers.png and friends).
FILES: dict[str, list[tuple[str, str]]] = {
    "leaflet": [
        ("dist/leaflet.js", "leaflet/leaflet.js"),
        ("dist/leaflet.css", "leaflet/leaflet.css"),
        ("dist/images/layers.png", "leaflet/images/layers.png"),
        ("dist/images/layers-2x.png", "leaflet/images/layers-2x.png"),
        ("dist/images/marker-icon.png", "leaflet/images/marker-icon.png"),
        ("dist/images/marker-icon-2x.png", "leaflet/images/marker-icon-2x.png"),
        ("dist/images/marker-shadow.png", "leaflet/images/marker-shadow.png"),
        ("LICENSE", "leaflet/LICENSE"),
    ],
    "leaflet.markercluster": [
        ("dist/leaflet.markercluster.js", "leaflet.markercluster/leaflet.markercluster.js"),
        ("dist/MarkerCluster.css", "leaflet.markercluster/MarkerCluster.css"),
        ("dist/MarkerCluster.Default.css", "leaflet.markercluster/MarkerCluster.Default.css"),
        ("MIT-LICENCE.txt", "leaflet.markercluster/LICENSE"),
    ],
}


def pinned_versions(package_json: Path) -> dict[str, str]:
    return json.loads(package_json.read_text(encoding="utf-8"))["dependencies"]


def vendor(node_modules: Path, dest: Path, pins: dict[str, str]) -> tuple[list[dict], list[str]]:
    """Copy every file in ``FILES``; return (manifest rows, problems). Nothing is copied if a problem is found."""
    problems: list[str] = []
    plan: list[tuple[str, str, Path, Path]] = []
    for package, files in FILES.items():
        pkg_dir = node_modules / package
        meta = pkg_dir / "package.json"
        if not meta.is_file():
            problems.append(f"{meta}: missing; run `npm ci` first")
            continue
        version = json.loads(meta.read_text(encoding="utf-8"))["version"]
        if package in pins and pins[package] != version:
            problems.append(f"{package}: node_modules has {version} but package.json pins {pins[package]}; run `npm ci`")
        for src_rel, dst_rel in files:
            src = pkg_dir / src_rel
            if not src.is_file():
                problems.append(f"{src}: missing from {package} {version}")
            plan.append((package, version, src, dest / dst_rel))
    if problems:
        return [], problems

    if dest.exists():
        shutil.rmtree(dest)
    manifest = []
    for package, version, src, dst in plan:
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        data = dst.read_bytes()
        manifest.append({
            "package": package, "version": version, "file": dst.relative_to(dest).as_posix(),
            "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(),
        })
    (dest / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest, []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="example:\n  npm ci && python scripts/vendor_assets.py")
    parser.add_argument("--node-modules", type=Path, default=ROOT / "node_modules")
    parser.add_argument("--dest", type=Path, default=ROOT / "webmap" / "static" / "vendor")
    parser.add_argument("--package-json", type=Path, default=ROOT / "package.json")
    args = parser.parse_args(argv)

    manifest, problems = vendor(args.node_modules, args.dest, pinned_versions(args.package_json))
    if problems:
        for problem in problems:
            print(f"vendor_assets: {problem}", file=sys.stderr)
        return 1
    total = sum(row["bytes"] for row in manifest)
    print(f"vendor_assets: {len(manifest)} files, {total / 1024:.0f} KiB -> {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
