"""The MDM domain: models, repositories, services (resolve, merge, split, publish), jobs, settings, CLI.

Nothing in here knows about Flask request objects; ``api/`` calls these services.
"""
