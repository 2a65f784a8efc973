"""Ready-to-paste configuration for external tools, from the live address and key."""

from __future__ import annotations


def tool_snippets(base_url: str, model: str, api_key: str | None) -> dict[str, str]:
    """Snippets keyed by tool name. ``base_url`` has no trailing /v1."""
    key = api_key or "roost-local"  # loopback needs no key; clients insist on some value
    v1 = f"{base_url}/v1"
    return {
        "environment (any OpenAI client)": (
            f"export OPENAI_BASE_URL={v1}\nexport OPENAI_API_KEY={key}\nexport OPENAI_MODEL={model}"
        ),
        "Codex CLI (~/.codex/config.toml)": (
            f'model = "{model}"\nmodel_provider = "roost"\n\n'
            f'[model_providers.roost]\nname = "Roost"\nbase_url = "{v1}"\n'
            'env_key = "ROOST_API_KEY"\nwire_api = "chat"\n'
            f"# and: export ROOST_API_KEY={key}"
        ),
        "Claude Code (Anthropic /v1/messages)": (
            f"export ANTHROPIC_BASE_URL={base_url}\nexport ANTHROPIC_AUTH_TOKEN={key}\n"
            f"export ANTHROPIC_MODEL={model}\nexport ANTHROPIC_SMALL_FAST_MODEL={model}"
        ),
        "Continue (config.yaml)": (
            f"models:\n  - name: Roost {model}\n    provider: openai\n    model: {model}\n"
            f"    apiBase: {v1}\n    apiKey: {key}\n    roles: [chat, edit, apply]"
        ),
        "Aider": (f"aider --openai-api-base {v1} --openai-api-key {key} --model openai/{model}"),
        "opencode (opencode.json)": (
            '{\n  "$schema": "https://opencode.ai/config.json",\n  "provider": {\n'
            '    "roost": {\n      "npm": "@ai-sdk/openai-compatible",\n'
            '      "name": "Roost",\n'
            f'      "options": {{ "baseURL": "{v1}", "apiKey": "{key}" }},\n'
            f'      "models": {{ "{model}": {{}} }}\n    }}\n  }}\n}}'
        ),
    }
