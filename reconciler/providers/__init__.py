"""Provider clients. `make_provider(name, settings, env)` builds one with its injected httpx client."""
