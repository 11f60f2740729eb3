"""A local web app over trained models (`chainrule serve`): sample, complete a painted region, score, compress,
continue text, generate audio, in the browser. `served` (the models and limits), `pictures`, `sequences` and
`uploads` do the work, `streams` runs long work as a stream; `server` is their HTTP face (FastAPI)."""
