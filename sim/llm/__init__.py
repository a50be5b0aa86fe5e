"""LLM agents: the client, its configuration, the response cache, the offline generator and the
service a simulation asks for text and decisions.

Nothing here imports ``openai`` until a request is actually sent, so a world without a key never
loads it. See ``sim.llm.client`` for the client, ``sim.llm.offline`` for the offline generator and
``sim.llm.service`` for how a simulation uses them.
"""
