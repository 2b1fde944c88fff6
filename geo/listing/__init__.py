"""上图: exports of stations in the map platforms' bulk formats, and each station's listing status per platform."""
