"""`python -m predrnn_keras.export MODEL.keras DIR --horizon N`: exports a
`.keras` file as a SavedModel. Used with KERAS_BACKEND=tensorflow to export
models trained under PyTorch."""

import argparse


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a .keras file")
    parser.add_argument("export_dir")
    parser.add_argument("--horizon", type=int, required=True)
    parser.add_argument("--context-length", type=int, default=None)
    args = parser.parse_args(argv)

    import keras

    import predrnn_keras  # noqa: F401  (registers the model classes)
    from predrnn_keras.export.saved_model import export_in_process

    model = keras.saving.load_model(args.model)
    export_in_process(
        model,
        args.export_dir,
        args.horizon,
        args.context_length or model.input_length,
    )


if __name__ == "__main__":
    main()
