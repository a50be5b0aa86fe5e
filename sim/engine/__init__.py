"""Engine: the tick (``simulation``) and what it accepts: seed choice (``seeding``), interventions
(``intervene``) and the metrics a running simulation publishes (``observe``).
Imports social, analysis, llm, store, model and core."""
