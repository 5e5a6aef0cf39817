"""Statistics for project leads: agreement, alignment, drafts vs finals, lexicon, report.

Every function takes an Engine and returns pandas DataFrames; the CLI renders them as
tables or JSON, the report as HTML. pandas, numpy, scipy and krippendorff are imported
by the submodules, so import those only where the figures are needed.
"""
