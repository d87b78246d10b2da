"""Making the data product: refine (a cleaned, pseudonymised, generalised copy of the export),
its data dictionary, datacard and Croissant metadata.

Imports the layers below it; never presentation or the command line.
"""
