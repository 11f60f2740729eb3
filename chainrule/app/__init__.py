"""A local web app over trained models (`chainrule serve`): sample, complete a painted region, score, compress,
continue text, generate audio, in the browser. `service` does the work; `server` is its HTTP face (FastAPI)."""
