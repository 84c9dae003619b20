"""Agents: profiles (what to run) and how they launch, skills, the manifest a session gets and its prompt."""
