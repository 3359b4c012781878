print("mesa")
