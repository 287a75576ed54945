"""Above the façade: what runs a project by itself (continuous mode; schedules later)."""
