"""Regenerates the PDF and DOCX files in sample_docs/ (run once by a maintainer; the outputs are committed)."""
from pathlib import Path

from docx import Document
from fpdf import FPDF

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "sample_docs"

MAINTENANCE_PAGES = [
    (
        "QF-200 Centrifugal Pump - Maintenance Procedures",
        [
            "Document MP-200, revision 4. Applies to every QF-200 single-stage end-suction pump in service.",
            "Bearing lubrication: the QF-200 bearings must be re-greased every 2,000 operating hours with "
            "lithium complex EP2 grease. Apply 15 g of grease per bearing; over-greasing raises the bearing "
            "temperature. Bearing temperature must stay below 85 degrees C during operation.",
            "Mechanical seal: inspect the seal daily during the walk-round. Replace the mechanical seal when "
            "leakage exceeds 10 drops per minute. Never run the pump dry, even for a few seconds; a dry run "
            "destroys the seal faces.",
            "Impeller clearance: the clearance between the impeller and the wear ring is 0.30 mm to 0.45 mm "
            "when new. Replace the wear ring when the clearance exceeds 0.80 mm.",
        ],
    ),
    (
        "Reassembly, Alignment and Vibration Limits",
        [
            "Casing bolts: tighten the casing bolts of the QF-200 to 85 N.m in a star pattern, in three "
            "passes (30 %, 70 %, 100 % of the final torque).",
            "Shaft alignment: check the alignment between pump and motor after every reassembly and once a "
            "year. Parallel and angular misalignment must not exceed 0.05 mm, measured with a laser "
            "alignment tool.",
            "Vibration: measure vibration on the bearing housing. An alarm is raised at 4.5 mm/s RMS; the "
            "pump must be stopped (trip) at 7.1 mm/s RMS and may only be restarted after the cause is found.",
        ],
    ),
    (
        "VX-40 Diaphragm Pump and CK-7 Control Cabinet",
        [
            "VX-40 diaphragms: replace the PTFE diaphragms every 5,000 operating hours or every 12 months, "
            "whichever comes first. Always replace both diaphragms together.",
            "VX-40 air supply: the compressed air must be filtered to 5 micrometres and must be free of oil "
            "unless the pump has the lubricated air-valve option.",
            "CK-7 control cabinet: clean the cabinet fan filter every 3 months. Test the automatic "
            "changeover between duty and standby pumps once a month by switching off the duty pump.",
            "All maintenance work must be recorded in the maintenance log within 24 hours, with the "
            "equipment number, the work done, the downtime and the name of the technician.",
        ],
    ),
]


def write_maintenance_pdf(path: Path) -> None:
    pdf = FPDF()
    pdf.set_auto_page_break(auto=True, margin=15)
    for title, paragraphs in MAINTENANCE_PAGES:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 15)
        pdf.multi_cell(0, 9, title)
        pdf.ln(3)
        pdf.set_font("Helvetica", size=11)
        for paragraph in paragraphs:
            pdf.multi_cell(0, 6, paragraph)
            pdf.ln(3)
    pdf.output(str(path))


def write_training_docx(path: Path) -> None:
    doc = Document()
    doc.add_heading("Training and Qualification Policy", level=1)
    doc.add_paragraph(
        "Qingshan Fluid Systems requires every new employee to complete 16 hours of safety induction "
        "training before being allowed onto the production floor. The induction ends with a written test; "
        "the pass mark is 80 points out of 100."
    )
    doc.add_heading("Refresher training", level=2)
    doc.add_paragraph(
        "Safety refresher training of 4 hours is held once a year for all production staff. "
        "Forklift drivers renew their internal forklift licence every 3 years, after a practical test."
    )
    doc.add_heading("Pump test bay qualification", level=2)
    doc.add_paragraph(
        "Only technicians holding the Level 2 test-bay qualification may start a pump on the test bay. "
        "The qualification requires 40 hours of supervised work on the test bay and is valid for 2 years."
    )
    table = doc.add_table(rows=3, cols=2)
    for row, (course, hours) in zip(
        table.rows, [("Course", "Hours"), ("Safety induction", "16"), ("Annual refresher", "4")]
    ):
        row.cells[0].text, row.cells[1].text = course, hours
    doc.save(str(path))


if __name__ == "__main__":
    write_maintenance_pdf(SAMPLE_DOCS / "maintenance_procedures.pdf")
    write_training_docx(SAMPLE_DOCS / "training_policy.docx")
