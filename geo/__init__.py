"""Domain core of the Chongqing worker-station map: schema, registry, nearest and coverage queries.

Nothing here imports Flask; the web app and the CLI are thin layers over these modules.
"""
