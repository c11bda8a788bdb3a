"""What the live suite (tests/live, a real FreeSWITCH) shares: the switch process and its event
socket (``fsprocess``), loopback calls (``calls``), the payment Service (``payment_service``),
keying a card at the prompts (``card_entry``), keys and marker tones as audio (``tones``), and
an agent's bridged call with the agent API (``agent_call``)."""
