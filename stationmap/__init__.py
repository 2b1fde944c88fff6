"""The ``stationmap`` command line: nearest stations, district coverage, validation, serving, accounts."""
