"""What the user asks for (chat, inline edit, composer, agent, apply, Tab), as functions of their inputs."""
