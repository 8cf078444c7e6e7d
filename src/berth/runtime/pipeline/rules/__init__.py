"""The business-rules language of the ``rules`` post-step: tokenizer, parser, evaluator (no eval)."""
