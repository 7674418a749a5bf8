"""The protocol layer: what the standards say, with no I/O and no policy.

Parsers and facts that both the probes and the checks need live here (cipher-suite facts,
SPF/DMARC/MTA-STS/TXT grammars and the SPF evaluator, HTTP header and security.txt
grammars, HTML subresource extraction, address and name helpers). Modules here import only
the standard library, third-party libraries, other ``auditor.protocol`` modules,
``auditor.text``, ``auditor.model`` and the observation data classes (``auditor.obs``);
never probes, the engine, the store, checks or reports (tests/unit/test_architecture.py
enforces it). Policy (NCSC classes, thresholds, verdicts) stays in ``checks/``.
"""
