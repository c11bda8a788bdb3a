"""The shape of step ids and variable names, shared by every schema fragment that names one."""

STEP_ID_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
STEP_ID_SCHEMA = {
    "type": "string",
    "pattern": STEP_ID_PATTERN,
    "patternErrorMessage": "must start with a letter or _ and hold only letters, digits, _ and -",
}


def step_reference(description: str) -> dict:
    """Schema of a value that names a step id (goto, branch then/else, collect on...)."""
    return {**STEP_ID_SCHEMA, "description": description}


VARIABLE_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_.-]*$"
